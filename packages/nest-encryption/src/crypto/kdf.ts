import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rawArgon2id } from './argon2-raw';
import { InvalidCryptoInputError } from './errors';
import { hkdfSha256Into, hmacSha256, SHA256_BYTES, sha256Into } from './hkdf';
import { secureAlloc, secureTakeOver, zeroBuffer } from './secure-memory';

/**
 * How the password master key comes from argon2id's output, stored per user in `kdf_params`:
 * - 1 (the field absent: accounts made before it existed): the output itself;
 * - 2: HMAC-SHA256(server argon2-output key, output). A copy of argon2's output that escapes
 *   locked memory (the vector registers of the threadpool thread that ran it, the `argon2`
 *   binding's freed result vector) then yields no key without a server secret that never
 *   leaves locked memory.
 */
export type PasswordKdfVersion = 1 | 2;

/** What new and changed passwords are derived with; older accounts move to it at their next login. */
export const CURRENT_PASSWORD_KDF_VERSION: PasswordKdfVersion = 2;

/**
 * argon2id cost and KDF version, stored per user beside the salt so both can be raised later
 * (docs/design.md#key-hierarchy).
 */
export interface Argon2Params {
  /** Memory in KiB. */
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  /** Absent means 1 (`PasswordKdfVersion`). */
  version?: PasswordKdfVersion;
}

/** The server secrets the password KDF takes (`ServerSecrets` has both). */
export interface PasswordKdfSecrets {
  /** argon2's `secret`. */
  pepper: Buffer;
  /** HMAC key over argon2's output (version 2). */
  argon2OutputKey: Buffer;
}

/** The stored version of `params` (absent: 1). @throws InvalidCryptoInputError for an unknown one. */
export function passwordKdfVersion(
  params: Pick<Argon2Params, 'version'>,
): PasswordKdfVersion {
  const version = params.version ?? 1;
  if (version !== 1 && version !== 2)
    throw new InvalidCryptoInputError(
      `unknown password KDF version ${String(version)}`,
    );
  return version;
}

/** OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1. */
export const OWASP_MINIMUM_ARGON2_PARAMS: Readonly<Argon2Params> =
  Object.freeze({
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
 * password ─argon2id(salt, secret = pepper)→ output, and the 32-byte master key
 * (docs/design.md#key-hierarchy) is, by `params.version`: 1, that output; 2,
 * HMAC-SHA256(argon2OutputKey, output). The one expensive call of a login or registration;
 * everything else derives from its result with HKDF. The password is NFC-normalised (the same
 * password typed on two keyboards is one password), never truncated. The result is in locked
 * memory: the caller releases it with `zeroBuffer`.
 */
export async function derivePasswordMasterKey(
  password: string,
  salt: Buffer,
  params: Argon2Params,
  secrets: PasswordKdfSecrets,
): Promise<Buffer> {
  const version = passwordKdfVersion(params);
  if (salt.length < KDF_SALT_BYTES)
    throw new InvalidCryptoInputError(
      `salts are at least ${KDF_SALT_BYTES} bytes`,
    );
  if (version === 2 && secrets.argon2OutputKey?.length !== DERIVED_KEY_BYTES) {
    throw new InvalidCryptoInputError(
      `the argon2-output key is ${DERIVED_KEY_BYTES} bytes`,
    );
  }
  // The password's bytes in locked memory, wiped once argon2 has them (it wipes its own copy).
  const normalized = password.normalize('NFC');
  const secret = secureAlloc(Buffer.byteLength(normalized, 'utf8'));
  secret.write(normalized, 0, 'utf8');
  let output: Buffer;
  try {
    output = await rawArgon2id(secret, {
      salt,
      secret: secrets.pepper,
      hashLength: DERIVED_KEY_BYTES,
      memoryKiB: params.memoryKiB,
      iterations: params.iterations,
      parallelism: params.parallelism,
    });
  } finally {
    zeroBuffer(secret);
  }
  // argon2 hands its output back in an ordinary Buffer: moved or keyed into locked memory, and
  // wiped, at once.
  return version === 1
    ? secureTakeOver(output)
    : keyArgon2Output(output, secrets.argon2OutputKey);
}

/**
 * Version 2's last step: HMAC-SHA256(key, argon2Output) into a new buffer in locked memory
 * (`hkdf.ts`: the HMAC's whole state is in locked memory too). Wipes `argon2Output`, whatever
 * happens.
 */
export function keyArgon2Output(argon2Output: Buffer, key: Buffer): Buffer {
  try {
    return hmacSha256(key, argon2Output);
  } finally {
    zeroBuffer(argon2Output);
  }
}

/**
 * HKDF-SHA256 (RFC 5869; `hkdf.ts`) into a new buffer in locked memory: release it with
 * `zeroBuffer`. `info` is prefixed with this product's label.
 */
export function hkdfSha256(
  ikm: Buffer,
  info: string,
  length = DERIVED_KEY_BYTES,
  salt: Buffer = EMPTY,
): Buffer {
  const output = secureAlloc(length);
  try {
    hkdfSha256Into(
      output,
      ikm,
      Buffer.from(`${LABEL_PREFIX}${info}`, 'utf8'),
      salt,
    );
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
  const authVerifier = Buffer.alloc(SHA256_BYTES);
  try {
    sha256Into(authVerifier, authKey);
  } finally {
    zeroBuffer(authKey);
  }
  return { authVerifier, kek: hkdfSha256(masterKey, 'password/kek') };
}

/**
 * masterKey ─HKDF "idempotency"→ the secret that keys a register's or login's idempotency record
 * (sealing and fingerprint keys). A third sibling branch of the same argon2id output: it yields
 * neither the verifier nor the KEK, and costs a guesser one argon2id per guess like they do.
 * In locked memory (release with `zeroBuffer`).
 */
export function passwordIdempotencySecret(masterKey: Buffer): Buffer {
  return hkdfSha256(masterKey, 'password/idempotency');
}

/** Constant-time comparison of two verifiers (false on any length mismatch). */
export function verifiersMatch(expected: Buffer, actual: Buffer): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
