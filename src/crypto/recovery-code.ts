import { randomBytes } from 'node:crypto';
import { InvalidCryptoInputError } from './errors';
import { Argon2Params, derivePasswordMasterKey, hkdfSha256 } from './kdf';
import { zeroBuffer } from './secure-memory';

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

/** recoveryCode ─argon2id(own salt, pepper)→ ─HKDF "recovery/kek"→ recovery KEK (SPEC §1). */
export async function deriveRecoveryKek(
  recoveryCode: string,
  salt: Buffer,
  params: Argon2Params,
  pepper: Buffer,
): Promise<Buffer> {
  const masterKey = await derivePasswordMasterKey(normalizeRecoveryCode(recoveryCode), salt, params, pepper);
  try {
    return hkdfSha256(masterKey, 'recovery/kek');
  } finally {
    zeroBuffer(masterKey);
  }
}
