import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rawArgon2id } from './argon2-raw';
import { InvalidCryptoInputError } from './errors';
import { hkdfSha256Into, sha256Into } from './hkdf';
import { secureAlloc, secureTakeOver, zeroBuffer } from './secure-memory';

/** argon2id cost, stored per user beside the salt so it can be raised later (SPEC §1). */
export interface Argon2Params {
  /** Memory in KiB. */
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/** OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1. */
export const OWASP_MINIMUM_ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({
  memoryKiB: 19 * 1024,
  iterations: 2,
  parallelism: 1,
});

export const KDF_SALT_BYTES = 16;
export const DERIVED_KEY_BYTES = 32;

const LABEL_PREFIX = 'vault-pii/v1/';

export function generateSalt(): Buffer {
  return randomBytes(KDF_SALT_BYTES);
}

/**
 * password ─argon2id(salt, secret = pepper)→ 32-byte master key (SPEC §1). The one expensive
 * call of a login or registration; everything else derives from its output with HKDF.
 * The password is NFC-normalised (the same password typed on two keyboards is one password),
 * never truncated.
 */
export async function derivePasswordMasterKey(
  password: string,
  salt: Buffer,
  params: Argon2Params,
  pepper: Buffer,
): Promise<Buffer> {
  if (salt.length < KDF_SALT_BYTES) throw new InvalidCryptoInputError(`salts are at least ${KDF_SALT_BYTES} bytes`);
  // The password's bytes in locked memory, wiped once argon2 has them (it wipes its own copy).
  const normalized = password.normalize('NFC');
  const secret = secureAlloc(Buffer.byteLength(normalized, 'utf8'));
  secret.write(normalized, 0, 'utf8');
  try {
    // argon2 hands its output back in an ordinary Buffer: moved into locked memory at once.
    return secureTakeOver(
      await rawArgon2id(secret, {
        salt,
        secret: pepper,
        hashLength: DERIVED_KEY_BYTES,
        memoryKiB: params.memoryKiB,
        iterations: params.iterations,
        parallelism: params.parallelism,
      }),
    );
  } finally {
    zeroBuffer(secret);
  }
}

/**
 * HKDF-SHA256 (RFC 5869; `hkdf.ts`) into a new buffer in locked memory: release it with
 * `zeroBuffer`. `info` is prefixed with this product's label.
 */
export function hkdfSha256(ikm: Buffer, info: string, length = DERIVED_KEY_BYTES, salt: Buffer = EMPTY): Buffer {
  const output = secureAlloc(length);
  try {
    hkdfSha256Into(output, ikm, Buffer.from(`${LABEL_PREFIX}${info}`, 'utf8'), salt);
    return output;
  } catch (error) {
    zeroBuffer(output);
    throw error;
  }
}

const EMPTY = Buffer.alloc(0);

export interface PasswordKeys {
  /** SHA-256 of the HKDF "auth" key: stored, compared in constant time, useless for the KEK. */
  authVerifier: Buffer;
  /** Wraps the user's DEKs. Never stored; in locked memory (release with `zeroBuffer`). */
  kek: Buffer;
}

/**
 * masterKey ─HKDF "auth"→ authKey ─SHA-256→ authVerifier, and masterKey ─HKDF "kek"→ KEK.
 * Both come from one argon2id output, and the verifier is one-way from a sibling branch,
 * so the stored verifier cannot yield the KEK.
 */
export function splitPasswordMasterKey(masterKey: Buffer): PasswordKeys {
  const authKey = hkdfSha256(masterKey, 'password/auth');
  const authVerifier = Buffer.alloc(32);
  try {
    sha256Into(authVerifier, authKey);
  } finally {
    zeroBuffer(authKey);
  }
  return { authVerifier, kek: hkdfSha256(masterKey, 'password/kek') };
}

/** Constant-time comparison of two verifiers (false on any length mismatch). */
export function verifiersMatch(expected: Buffer, actual: Buffer): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
