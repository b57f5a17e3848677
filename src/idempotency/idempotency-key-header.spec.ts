import { parseIdempotencyKey } from './idempotency-key-header';
import { InvalidIdempotencyKeyError } from './idempotency.errors';

describe('parseIdempotencyKey (draft-ietf-httpapi-idempotency-key-header)', () => {
  it('is undefined without the header', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey([])).toBeUndefined();
  });

  it('reads a Structured Field String, unescaping \\" and \\\\', () => {
    expect(
      parseIdempotencyKey(['"8e03978e-40d5-43e8-bc93-6894a57f9324"']),
    ).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey(['"a\\"b\\\\c"'])).toBe('a"b\\c');
  });

  it('reads a bare key (Stripe-style clients)', () => {
    expect(parseIdempotencyKey(['8e03978e-40d5-43e8-bc93-6894a57f9324'])).toBe(
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    );
    expect(parseIdempotencyKey(['a'.repeat(255)])).toBe('a'.repeat(255));
  });

  it.each([
    ['empty', ''],
    ['empty quoted', '""'],
    ['256 characters', 'a'.repeat(256)],
    ['256 characters quoted', `"${'a'.repeat(256)}"`],
    ['a space inside', 'ab cd'],
    ['a space inside quotes', '"ab cd"'],
    ['a tab', 'ab\tcd'],
    ['a control character', 'ab\u0001cd'],
    ['a non-ASCII character', 'clé'],
    ['an unterminated quote', '"abc'],
    ['a bad escape', '"a\\nb"'],
    ['text after the quote', '"abc"def'],
    ['an unescaped quote inside', '"ab"c"'],
  ])('refuses %s', (_name, value) => {
    expect(() => parseIdempotencyKey([value])).toThrow(
      InvalidIdempotencyKeyError,
    );
  });

  it('refuses two header lines (Node would join them with a comma)', () => {
    expect(() => parseIdempotencyKey(['"a"', '"b"'])).toThrow(
      InvalidIdempotencyKeyError,
    );
  });
});
