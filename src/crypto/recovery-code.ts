import { randomBytes } from 'node:crypto';
import { InvalidCryptoInputError } from './errors';
import { hkdfSha256, KDF_SALT_BYTES } from './kdf';
import { secureAlloc, zeroBuffer } from './secure-memory';

/** Crockford base32: no I, L, O or U, so a code read aloud or retyped survives. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 7;
const GROUP_LENGTH = 4;
/** 28 characters × 5 bits = 140 random bits (SPEC §1 asks for at least 128). */
export const RECOVERY_CODE_CHARACTERS = GROUPS * GROUP_LENGTH;

/** A new recovery code, e.g. `7K3M-Q9TW-…` (7 groups of 4), shown to the user once. */
export function generateRecoveryCode(): string {
  const bytes = randomBytes(RECOVERY_CODE_CHARACTERS);
  let code = '';
  for (let i = 0; i < RECOVERY_CODE_CHARACTERS; i++) {
    // 256 is a multiple of 32, so taking the low 5 bits of a random byte is unbiased.
    code += ALPHABET[bytes[i] & 31];
    if (i % GROUP_LENGTH === GROUP_LENGTH - 1 && i < RECOVERY_CODE_CHARACTERS - 1) code += '-';
  }
  zeroBuffer(bytes);
  return code;
}

/**
 * Canonical form of a typed code: case, spaces and hyphens ignored, and Crockford's look-alikes
 * read as digits (O→0, I/L→1).
 * @throws InvalidCryptoInputError when it cannot be a recovery code.
 */
export function normalizeRecoveryCode(input: string): string {
  // ASCII only, checked before upper-casing: 'ß'.toUpperCase() is 'SS', 'ı' would become 'I'.
  if (!/^[\x20-\x7e\s]*$/.test(input)) throw new InvalidCryptoInputError('not a recovery code');
  const canonical = input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  if (canonical.length !== RECOVERY_CODE_CHARACTERS || [...canonical].some((c) => !ALPHABET.includes(c))) {
    throw new InvalidCryptoInputError('not a recovery code');
  }
  return canonical;
}

/**
 * recoveryCode ─HKDF-SHA256(salt = own salt, ikm = pepper ‖ code, "recovery/kek")→ recovery KEK.
 * The code carries 140 random bits, so a memory-hard KDF would add nothing against guessing
 * (2^140 HKDF calls) while costing a second argon2id call at registration; SPEC §1 allows
 * exactly one per registration or login. The pepper keeps a database dump alone useless here too.
 */
export function deriveRecoveryKek(recoveryCode: string, salt: Buffer, pepper: Buffer): Buffer {
  if (salt.length < KDF_SALT_BYTES) throw new InvalidCryptoInputError(`salts are at least ${KDF_SALT_BYTES} bytes`);
  const code = normalizeRecoveryCode(recoveryCode);
  // ikm = pepper ‖ code, assembled in locked memory (the code is ASCII: one byte a character).
  const ikm = secureAlloc(pepper.length + code.length);
  try {
    pepper.copy(ikm, 0);
    ikm.write(code, pepper.length, 'latin1');
    return hkdfSha256(ikm, 'recovery/kek', 32, salt);
  } finally {
    zeroBuffer(ikm);
  }
}
