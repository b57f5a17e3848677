import { createSecretKey, KeyObject } from 'node:crypto';
import {
  InvalidCryptoInputError,
  hkdfSha256,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import {
  deriveEncryptionSecrets,
  EncryptionSecrets,
} from '@vault-pii/nest-encryption';

/**
 * Every server secret, each derived from the master key with its own HKDF label
 * (docs/crypto.md#key-hierarchy): the library's (`deriveEncryptionSecrets`: argon2 pepper and
 * output key, server blind-index key, vault key) and this app's own (JWT, rate limits, idempotency records). The
 * Buffers are in locked memory; the JWT key is a KeyObject, whose bytes node:crypto copies into
 * OpenSSL's ordinary heap (docs/crypto.md, "Keys in memory").
 */
export interface ServerSecrets extends EncryptionSecrets {
  /**
   * HS256 key as a KeyObject: jsonwebtoken verifies ~50× faster than with a Buffer
   * (docs/security.md#access-tokens).
   */
  jwtSigningKey: KeyObject;
  /** HMAC key naming rate-limit counters, so no email or client address appears in their keys. */
  rateLimitKey: Buffer;
  /**
   * Names idempotency records (HMAC of route, caller scope and key) and salts the per-caller keys
   * that seal their outcomes (docs/http-api.md#idempotency).
   */
  idempotencyKey: Buffer;
  /**
   * The server's half of every access key (docs/crypto.md#access-keys): HKDF salt with each key's
   * secret, and the key that seals their public keys.
   */
  accessKeySecret: Buffer;
}

export function deriveServerSecrets(appMasterKey: Buffer): ServerSecrets {
  if (appMasterKey.length !== 32)
    throw new InvalidCryptoInputError('APP_MASTER_KEY is 32 bytes');
  const jwtKeyBytes = hkdfSha256(appMasterKey, 'server/jwt-hs256');
  let jwtSigningKey: KeyObject;
  try {
    jwtSigningKey = createSecretKey(jwtKeyBytes);
  } finally {
    zeroBuffer(jwtKeyBytes);
  }
  return {
    jwtSigningKey,
    ...deriveEncryptionSecrets(appMasterKey),
    rateLimitKey: hkdfSha256(appMasterKey, 'server/rate-limit'),
    idempotencyKey: hkdfSha256(appMasterKey, 'server/idempotency'),
    accessKeySecret: hkdfSha256(appMasterKey, 'server/access-keys'),
  };
}
