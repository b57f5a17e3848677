import { InvalidIdempotencyKeyError } from './idempotency.errors';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** Sent on a response that is a stored outcome, not a new run of the handler. */
export const IDEMPOTENCY_REPLAYED_HEADER = 'Idempotency-Replayed';
export const IDEMPOTENCY_KEY_MAX_CHARACTERS = 255;

/** Visible ASCII (RFC 5234 VCHAR), 1 to 255 characters: what a key may hold once unquoted. */
const KEY_CHARACTERS = new RegExp(
  `^[\\x21-\\x7e]{1,${IDEMPOTENCY_KEY_MAX_CHARACTERS}}$`,
);
/** An RFC 9651 sf-string: `"`, printable ASCII with `\"` and `\\` escaped, `"`. */
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;

/**
 * The key of an `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header): a
 * Structured Field String (`"8e03978e-…"`), or, as Stripe-style clients send it, the bare value.
 * `undefined` when the header is absent (the request is handled as if it had none).
 *
 * @param lines every line of the header as received (`request.headersDistinct`), so that two
 *   lines, which Node would join with a comma, are refused rather than read as one key.
 * @throws InvalidIdempotencyKeyError empty, too long, control or non-ASCII characters, a broken
 *   quoted string, or more than one header line.
 */
export function parseIdempotencyKey(
  lines: readonly string[] | undefined,
): string | undefined {
  if (lines === undefined || lines.length === 0) return undefined;
  if (lines.length > 1)
    throw new InvalidIdempotencyKeyError(
      'Send one Idempotency-Key header line, not several.',
    );
  const value = lines[0].trim();
  let key = value;
  if (value.startsWith('"')) {
    const quoted = SF_STRING.exec(value);
    if (!quoted)
      throw new InvalidIdempotencyKeyError(
        'The Idempotency-Key is not a valid quoted string.',
      );
    key = quoted[1].replace(/\\(["\\])/g, '$1');
  }
  if (!KEY_CHARACTERS.test(key))
    throw new InvalidIdempotencyKeyError(
      `The Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_MAX_CHARACTERS} visible ASCII characters.`,
    );
  return key;
}
