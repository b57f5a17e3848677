/** The value kinds an `@EncryptedColumn` holds; the kind is stored inside the ciphertext. */
export type EncryptedValueKind =
  'string' | 'number' | 'boolean' | 'date' | 'json';

const TAG: Record<EncryptedValueKind, number> = {
  string: 1,
  number: 2,
  boolean: 3,
  date: 4,
  json: 5,
};

/**
 * The kind of a runtime value. Taken from the value, not from `design:type` metadata: TypeScript
 * emits `Object` for `Date | null` and `string | null`, which would lose Dates.
 */
export function kindOf(value: unknown): EncryptedValueKind {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      return value instanceof Date ? 'date' : 'json';
  }
}

/**
 * Plaintext layout: one tag byte, then the value (UTF-8 text, a float64, one byte, or JSON).
 * The tag makes a decrypted value decode to what was written, whatever the entity now declares.
 */
export function encodeValue(
  value: unknown,
  kind: EncryptedValueKind = kindOf(value),
): Buffer {
  switch (kind) {
    case 'string':
      return tagged(TAG.string, String(value));
    case 'number': {
      if (typeof value !== 'number') throw new TypeError('expected a number');
      const out = Buffer.allocUnsafe(9);
      out[0] = TAG.number;
      out.writeDoubleBE(value, 1);
      return out;
    }
    case 'boolean':
      return Buffer.from([TAG.boolean, value ? 1 : 0]);
    case 'date': {
      const time =
        value instanceof Date
          ? value.getTime()
          : new Date(value as string | number).getTime();
      if (Number.isNaN(time)) throw new TypeError('expected a valid date');
      const out = Buffer.allocUnsafe(9);
      out[0] = TAG.date;
      out.writeDoubleBE(time, 1);
      return out;
    }
    case 'json':
      return tagged(TAG.json, JSON.stringify(value));
  }
}

export function decodeValue(plaintext: Buffer): unknown {
  switch (plaintext[0]) {
    case TAG.string:
      return plaintext.toString('utf8', 1);
    case TAG.number:
      return plaintext.readDoubleBE(1);
    case TAG.boolean:
      return plaintext[1] === 1;
    case TAG.date:
      return new Date(plaintext.readDoubleBE(1));
    case TAG.json:
      return JSON.parse(plaintext.toString('utf8', 1));
    default:
      throw new TypeError(`unknown encrypted value tag ${plaintext[0]}`);
  }
}

/**
 * First byte of a legacy value in a column being adopted into encryption
 * (docs/plaintext-adoption.md#storage-format): `0x00 ‖ encodeValue(value)`, unauthenticated. An
 * envelope starts with its format version (1), never 0, so the two cannot be confused.
 */
export const ADOPTED_PLAINTEXT_MARKER = 0x00;

/**
 * SQL that is true for a legacy plaintext value of the (quoted) bytea column: its first byte is
 * the marker. Rotation and the adoption status both select with it.
 */
export function adoptedPlaintextPredicate(quotedColumn: string): string {
  return `substring(${quotedColumn} from 1 for 1) = '\\x00'::bytea`;
}

/** Thrown for a marked value whose layout is wrong; names no byte of it. */
export class MalformedAdoptedPlaintextError extends TypeError {
  constructor(problem: string) {
    super(`malformed adopted plaintext: ${problem}`);
    this.name = 'MalformedAdoptedPlaintextError';
  }
}

/** Whether `stored` is a legacy plaintext value (the marker first), not an envelope. */
export function isAdoptedPlaintext(stored: Buffer): boolean {
  return stored.length > 0 && stored[0] === ADOPTED_PLAINTEXT_MARKER;
}

/** `0x00 ‖ encodeValue(value, kind)`: the layout `plaintextAdoptionSql` converts a column to. */
export function encodeAdoptedPlaintext(
  value: unknown,
  kind?: EncryptedValueKind,
): Buffer {
  const encoded = encodeValue(value, kind);
  return Buffer.concat([Buffer.from([ADOPTED_PLAINTEXT_MARKER]), encoded]);
}

/**
 * The value of a marked legacy value. Stricter than `decodeValue`, because nothing authenticates
 * these bytes: each kind must have its exact length and JSON must parse.
 * @throws MalformedAdoptedPlaintextError (its message holds no part of the value).
 */
export function decodeAdoptedPlaintext(stored: Buffer): unknown {
  if (!isAdoptedPlaintext(stored))
    throw new MalformedAdoptedPlaintextError('the marker byte is missing');
  const encoded = stored.subarray(1);
  const expectedLength = FIXED_LENGTH[encoded[0]];
  if (encoded.length === 0 || !(encoded[0] in TAG_KIND))
    throw new MalformedAdoptedPlaintextError(
      `unknown value tag ${encoded[0] ?? 'none'}`,
    );
  if (expectedLength !== undefined && encoded.length !== expectedLength)
    throw new MalformedAdoptedPlaintextError(
      `a ${TAG_KIND[encoded[0]]} value is ${expectedLength - 1} bytes, not ${encoded.length - 1}`,
    );
  if (encoded[0] === TAG.boolean && encoded[1] > 1)
    throw new MalformedAdoptedPlaintextError('a boolean is 0 or 1');
  if (encoded[0] === TAG.date && !Number.isFinite(encoded.readDoubleBE(1)))
    throw new MalformedAdoptedPlaintextError('a date is a finite time');
  try {
    return decodeValue(encoded);
  } catch {
    // JSON.parse's message quotes the text it failed on.
    throw new MalformedAdoptedPlaintextError('the JSON does not parse');
  }
}

const TAG_KIND: Record<number, EncryptedValueKind> = Object.fromEntries(
  Object.entries(TAG).map(([kind, tag]) => [tag, kind as EncryptedValueKind]),
);

/** Tag and value bytes of the fixed-size kinds. */
const FIXED_LENGTH: Record<number, number> = {
  [TAG.number]: 9,
  [TAG.boolean]: 2,
  [TAG.date]: 9,
};

/** tag ‖ UTF-8 of `text`, written straight into one buffer (no intermediate copy to zero). */
function tagged(tag: number, text: string): Buffer {
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(text, 'utf8'));
  out[0] = tag;
  out.write(text, 1, 'utf8');
  return out;
}
