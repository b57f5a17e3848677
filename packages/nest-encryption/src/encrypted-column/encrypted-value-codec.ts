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

/** tag ‖ UTF-8 of `text`, written straight into one buffer (no intermediate copy to zero). */
function tagged(tag: number, text: string): Buffer {
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(text, 'utf8'));
  out[0] = tag;
  out.write(text, 1, 'utf8');
  return out;
}
