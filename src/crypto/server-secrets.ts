import { createSecretKey, KeyObject } from 'node:crypto';
import { InvalidCryptoInputError } from './errors';
import { hkdfSha256 } from './kdf';

/** Every server secret, each derived from APP_MASTER_KEY with its own HKDF label (SPEC §1). */
export interface ServerSecrets {
  /** HS256 key as a KeyObject: jsonwebtoken verifies ~50× faster than with a Buffer (SPEC §7). */
  jwtSigningKey: KeyObject;
  /** argon2's `secret`: without it a database dump allows no offline guessing. */
  pepper: Buffer;
  /** HMAC key of the server-keyed blind index (the login email). */
  blindIndexKey: Buffer;
  /** Root of the per-session keys that wrap vault entries. */
  vaultKey: Buffer;
  /** HMAC key naming rate-limit counters, so no email or client address appears in their keys. */
  rateLimitKey: Buffer;
}

export function deriveServerSecrets(appMasterKey: Buffer): ServerSecrets {
  if (appMasterKey.length !== 32) throw new InvalidCryptoInputError('APP_MASTER_KEY is 32 bytes');
  const jwtKeyBytes = hkdfSha256(appMasterKey, 'server/jwt-hs256');
  const jwtSigningKey = createSecretKey(jwtKeyBytes);
  jwtKeyBytes.fill(0);
  return {
    jwtSigningKey,
    pepper: hkdfSha256(appMasterKey, 'server/argon2-pepper'),
    blindIndexKey: hkdfSha256(appMasterKey, 'server/blind-index'),
    vaultKey: hkdfSha256(appMasterKey, 'server/vault'),
    rateLimitKey: hkdfSha256(appMasterKey, 'server/rate-limit'),
  };
}
