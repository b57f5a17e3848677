import { parseByteSize } from './byte-size';

describe('parseByteSize', () => {
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['512B', 512],
    ['512KB', 512_000],
    ['100MB', 100_000_000],
    ['100mb', 100_000_000],
    ['2GB', 2_000_000_000],
    ['1TB', 1_000_000_000_000],
    ['64KiB', 65_536],
    ['256MiB', 268_435_456],
    ['2GiB', 2_147_483_648],
    ['1TiB', 1_099_511_627_776],
    [' 10MB ', 10_000_000],
  ])('parses %p as %p bytes', (input, expected) => {
    expect(parseByteSize(input)).toBe(expected);
  });

  it.each([
    '',
    '-1',
    '-5MB',
    '1.5GB',
    '100 MB',
    '100M',
    '10XB',
    'MB',
    'lots',
    '9999999999TB',
  ])('rejects %p', (input) => {
    expect(parseByteSize(input)).toBeUndefined();
  });
});
