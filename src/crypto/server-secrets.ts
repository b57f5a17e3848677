import { createSecretKey, KeyObject } from 'node:crypto';
import {
  InvalidCryptoInputError,
  hkdfSha256,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';

/**
 * Every server secret, each derived from the master key with its own HKDF label
 * (docs/crypto.md#key-hierarchy). The Buffers are in locked memory; the JWT key is a KeyObject,
 * whose bytes node:crypto copies into OpenSSL's ordinary heap (docs/crypto.md, "Keys in memory").
 */
export interface ServerSecrets {
  /**
   * HS256 key as a KeyObject: jsonwebtoken verifies ~50× faster than with a Buffer
   * (docs/security.md#access-tokens).
   */
  jwtSigningKey: KeyObject;
  /** argon2's `secret`: without it a database dump allows no offline guessing. */
  pepper: Buffer;
  /**
   * HMAC key over argon2id's output (password KDF version 2, `kdf.ts`): a copy of that output
   * left outside locked memory (a threadpool thread's registers, freed native heap) yields no
   * password master key without it.
   */
  argon2OutputKey: Buffer;
  /** HMAC key of the server-keyed blind index (the login email). */
  blindIndexKey: Buffer;
  /** Root of the per-session keys that wrap vault entries. */
  vaultKey: Buffer;
  /** HMAC key naming rate-limit counters, so no email or client address appears in their keys. */
  rateLimitKey: Buffer;
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
    pepper: hkdfSha256(appMasterKey, 'server/argon2-pepper'),
    argon2OutputKey: hkdfSha256(appMasterKey, 'server/argon2-output'),
    blindIndexKey: hkdfSha256(appMasterKey, 'server/blind-index'),
    vaultKey: hkdfSha256(appMasterKey, 'server/vault'),
    rateLimitKey: hkdfSha256(appMasterKey, 'server/rate-limit'),
  };
}
