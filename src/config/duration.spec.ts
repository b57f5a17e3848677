import { parseDurationSeconds } from './duration';

describe('parseDurationSeconds', () => {
  it.each([
    ['600', 600],
    ['45s', 45],
    ['10m', 600],
    ['12h', 43200],
    ['7d', 604800],
    [' 30m ', 1800],
  ])('parses %p as %p seconds', (input, expected) => {
    expect(parseDurationSeconds(input)).toBe(expected);
  });

  it.each([
    '',
    '0',
    '0m',
    '-5m',
    '10 minutes',
    '1.5h',
    '10w',
    'm',
    '10mm',
    '9999999999',
  ])('rejects %p', (input) => {
    expect(parseDurationSeconds(input)).toBeUndefined();
  });
});
