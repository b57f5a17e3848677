import sodium from 'sodium-native';
import { InvalidCryptoInputError } from './errors';
import { hkdfSha256, KDF_SALT_BYTES } from './kdf';
import { secureAlloc, zeroBuffer } from './secure-memory';

/** Crockford base32: no I, L, O or U, so a code read aloud or retyped survives. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 7;
const GROUP_LENGTH = 4;
/** 28 characters × 5 bits = 140 random bits (docs/design.md#key-hierarchy). */
export const RECOVERY_CODE_CHARACTERS = GROUPS * GROUP_LENGTH;
const DISPLAYED_LENGTH = RECOVERY_CODE_CHARACTERS + GROUPS - 1;
const HYPHEN = 0x2d;
const ALPHABET_CODES = Buffer.from(ALPHABET, 'latin1');
/**
 * Printable ASCII code → the canonical symbol it is read as (upper case; O→0, I/L→1), or 0 when it
 * cannot be part of a code.
 */
const CANONICAL_SYMBOL = new Uint8Array(0x7f);
for (const symbol of ALPHABET_CODES) {
  CANONICAL_SYMBOL[symbol] = symbol;
  if (symbol >= 0x41 && symbol <= 0x5a)
    CANONICAL_SYMBOL[symbol + 0x20] = symbol;
}
for (const [lookAlike, symbol] of [
  ['O', '0'],
  ['I', '1'],
  ['L', '1'],
]) {
  CANONICAL_SYMBOL[lookAlike.charCodeAt(0)] = CANONICAL_SYMBOL[
    lookAlike.toLowerCase().charCodeAt(0)
  ] = symbol.charCodeAt(0);
}

/**
 * A new recovery code, e.g. `7K3M-Q9TW-…` (7 groups of 4), shown to the user once.
 *
 * Its characters are written into a locked buffer and become one string at the end: building it
 * by `+=` left every prefix up to 12 characters as a string of its own (V8 copies short
 * concatenations), strings that cannot be wiped.
 */
export function generateRecoveryCode(): string {
  const random = secureAlloc(RECOVERY_CODE_CHARACTERS);
  const text = secureAlloc(DISPLAYED_LENGTH);
  try {
    sodium.randombytes_buf(random);
    let at = 0;
    for (let i = 0; i < RECOVERY_CODE_CHARACTERS; i++) {
      if (i > 0 && i % GROUP_LENGTH === 0) text[at++] = HYPHEN;
      // 256 is a multiple of 32, so taking the low 5 bits of a random byte is unbiased.
      text[at++] = ALPHABET_CODES[random[i] & 31];
    }
    return text.toString('latin1');
  } finally {
    zeroBuffer(random, text);
  }
}

/**
 * Canonical form of a typed code: case, spaces and hyphens ignored, and Crockford's look-alikes
 * read as digits (O→0, I/L→1).
 * @throws InvalidCryptoInputError when it cannot be a recovery code.
 */
export function normalizeRecoveryCode(input: string): string {
  const canonical = secureAlloc(RECOVERY_CODE_CHARACTERS);
  try {
    writeCanonicalCode(input, canonical, 0);
    return canonical.toString('latin1');
  } finally {
    zeroBuffer(canonical);
  }
}

/**
 * Writes the canonical form of `input` (see `normalizeRecoveryCode`) as 28 ASCII bytes into
 * `target` at `offset`, a character at a time: no upper-cased or stripped copy of the code is
 * made as a string (each would stay in the V8 heap, unwipeable, until collected and overwritten).
 * @throws InvalidCryptoInputError when it cannot be a recovery code (`target` may then hold part of it).
 */
function writeCanonicalCode(
  input: string,
  target: Buffer,
  offset: number,
): void {
  let count = 0;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    // ASCII only (besides white space): 'ß'.toUpperCase() is 'SS', 'ı' would become 'I'.
    if (code > 0x7e || code < 0x20) {
      if (isWhiteSpace(code)) continue;
      throw new InvalidCryptoInputError('not a recovery code');
    }
    if (code === 0x20 || code === HYPHEN) continue;
    const symbol = CANONICAL_SYMBOL[code];
    if (symbol === 0 || count === RECOVERY_CODE_CHARACTERS)
      throw new InvalidCryptoInputError('not a recovery code');
    target[offset + count++] = symbol;
  }
  if (count !== RECOVERY_CODE_CHARACTERS)
    throw new InvalidCryptoInputError('not a recovery code');
}

/** `/\s/` (ECMAScript white space and line terminators) for one UTF-16 code unit, without making a string of it. */
function isWhiteSpace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/**
 * recoveryCode ─HKDF-SHA256(salt = own salt, ikm = pepper ‖ code, "recovery/kek")→ recovery KEK.
 * The code carries 140 random bits, so a memory-hard KDF would add nothing against guessing
 * (2^140 HKDF calls) while costing a second argon2id call at registration;
 * docs/design.md#key-hierarchy allows exactly one per registration or login. The pepper keeps a
 * database dump alone useless here too.
 */
export function deriveRecoveryKek(
  recoveryCode: string,
  salt: Buffer,
  pepper: Buffer,
): Buffer {
  if (salt.length < KDF_SALT_BYTES)
    throw new InvalidCryptoInputError(
      `salts are at least ${KDF_SALT_BYTES} bytes`,
    );
  // ikm = pepper ‖ canonical code, assembled in locked memory (the code is ASCII: one byte a character).
  const ikm = secureAlloc(pepper.length + RECOVERY_CODE_CHARACTERS);
  try {
    pepper.copy(ikm, 0);
    writeCanonicalCode(recoveryCode, ikm, pepper.length);
    return hkdfSha256(ikm, 'recovery/kek', 32, salt);
  } finally {
    zeroBuffer(ikm);
  }
}
