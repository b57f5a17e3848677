import { DomainError } from '../problem/domain-error';
import { decodePageCursor, encodePageCursor } from './page-cursor';

const ID = '0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10';
const raw = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('page cursor', () => {
  it('decodes what it encodes', () => {
    const cursor = { createdAt: new Date('2026-12-05T06:55:01.123Z'), id: ID };
    expect(decodePageCursor(encodePageCursor(cursor))).toEqual(cursor);
  });

  it.each([
    [
      'a date PostgreSQL cannot store (before 4714 BC)',
      `-005000-01-01T00:00:00.000Z|${ID}`,
    ],
    ['a year past 9999', `+010000-01-01T00:00:00.000Z|${ID}`],
    ['a date in another format', `2026-12-05|${ID}`],
    ['a date that does not exist', `2026-02-30T00:00:00.000Z|${ID}`],
    ['no date', `|${ID}`],
    ['an id that is not a UUID', '2026-12-05T06:55:01.123Z|42'],
    ['an extra part', `2026-12-05T06:55:01.123Z|${ID}|x`],
  ])('refuses %s as validation_failed', (_case, text) => {
    expect(() => decodePageCursor(raw(text))).toThrow(DomainError);
    try {
      decodePageCursor(raw(text));
    } catch (error) {
      expect((error as DomainError).code).toBe('validation_failed');
    }
  });
});
