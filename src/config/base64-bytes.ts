import { secureAlloc, zeroBuffer } from '@vault-pii/nest-encryption/crypto';

/**
 * Standard base64 (RFC 4648 §4, with padding) from bytes to bytes, for keys that must never
 * become a JavaScript string: a string cannot be wiped, and the engine may copy it at will.
 * Both directions write into secure memory (`secureAlloc`) and pick characters by arithmetic
 * instead of a table lookup, so neither a copy nor the cache timing of a lookup follows the key.
 */

/** Masks: -1 (all bits set) when `lo <= c <= hi`, else 0. Valid for 0 <= c, lo, hi <= 255. */
function inRange(c: number, lo: number, hi: number): number {
  return ((lo - 1 - c) & (c - hi - 1)) >> 8;
}

/** The base64 character of a sextet (0–63). */
function sextetToChar(x: number): number {
  // 'A'..'Z', then +6 to 'a'..'z', then -75 to '0'..'9', then -15 to '+', then +3 to '/'.
  return (
    65 +
    x +
    (((25 - x) >> 8) & 6) -
    (((51 - x) >> 8) & 75) -
    (((61 - x) >> 8) & 15) +
    (((62 - x) >> 8) & 3)
  );
}

/** The sextet of a base64 character, or -1 for a byte outside the alphabet. */
function charToSextet(c: number): number {
  const upper = inRange(c, 65, 90);
  const lower = inRange(c, 97, 122);
  const digit = inRange(c, 48, 57);
  const plus = inRange(c, 43, 43);
  const slash = inRange(c, 47, 47);
  const value =
    (upper & (c - 65)) |
    (lower & (c - 71)) |
    (digit & (c + 4)) |
    (plus & 62) |
    (slash & 63);
  const valid = upper | lower | digit | plus | slash;
  return value | ~valid;
}

/** `bytes` in base64, as ASCII bytes in secure memory (release with `zeroBuffer`). */
export function encodeBase64Secret(bytes: Uint8Array): Buffer {
  const out = secureAlloc(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  for (let i = 0; i < bytes.length; i += 3) {
    const remaining = bytes.length - i;
    const b0 = bytes[i];
    const b1 = remaining > 1 ? bytes[i + 1] : 0;
    const b2 = remaining > 2 ? bytes[i + 2] : 0;
    out[o++] = sextetToChar(b0 >> 2);
    out[o++] = sextetToChar(((b0 & 3) << 4) | (b1 >> 4));
    out[o++] =
      remaining > 1 ? sextetToChar(((b1 & 15) << 2) | (b2 >> 6)) : 0x3d;
    out[o++] = remaining > 2 ? sextetToChar(b2 & 63) : 0x3d;
  }
  return out;
}

/**
 * Decodes base64 held as bytes (ASCII) into secure memory. Strict: a length that is a multiple
 * of 4, the standard alphabet only, `=` only as the last one or two characters; no whitespace.
 * Bits left over in the last character are ignored, as Node's decoder does.
 *
 * @returns the decoded bytes (release with `zeroBuffer`), or `undefined` if `encoded` is not
 *   valid base64. Nothing about an invalid input (which may be a mistyped key) is kept.
 */
export function decodeBase64Secret(encoded: Uint8Array): Buffer | undefined {
  const length = encoded.length;
  if (length === 0 || length % 4 !== 0) return undefined;
  // Padding depends on the length of the key only, not on its bytes: branching on it is fine.
  const padding =
    encoded[length - 1] === 0x3d ? (encoded[length - 2] === 0x3d ? 2 : 1) : 0;
  const out = secureAlloc((length / 4) * 3 - padding);
  const sextets = length - padding;
  let invalid = 0;
  let o = 0;
  let accumulator = 0;
  let bits = 0;
  for (let i = 0; i < sextets; i++) {
    const sextet = charToSextet(encoded[i]);
    invalid |= sextet;
    accumulator = ((accumulator << 6) | (sextet & 63)) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (accumulator >> bits) & 0xff;
    }
  }
  if (invalid < 0) {
    zeroBuffer(out);
    return undefined;
  }
  return out;
}
