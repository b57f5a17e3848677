import {
  DERIVED_KEY_BYTES,
  InvalidCryptoInputError,
  hkdfSha256,
} from '../crypto';

/**
 * The server secrets the library takes in its options, each derived from one 32-byte master key
 * with its own HKDF label (README.md#key-hierarchy). In locked memory: the caller wipes them with
 * `zeroBuffer` at shutdown.
 */
export interface EncryptionSecrets {
  /** argon2's `secret` (`UserKeyHierarchy`'s `pepper`): a database dump allows no offline guessing. */
  pepper: Buffer;
  /**
   * HMAC key over argon2id's output (password KDF version 2; `UserKeyHierarchy`'s
   * `argon2OutputKey`): a copy of that output left outside locked memory (a threadpool thread's
   * registers, freed native heap) yields no password master key without it.
   */
  argon2OutputKey: Buffer;
  /** `EncryptedColumnsModule`'s `serverBlindIndexKey`. */
  blindIndexKey: Buffer;
  /** `KeyVaultModule`'s `vaultKey`. */
  vaultKey: Buffer;
}

/**
 * HKDF info of each secret (prefixed `vault-pii/v1/` by `hkdfSha256`). Part of what is stored: a
 * changed label makes every password, recovery code, server-keyed blind index and vault entry
 * stop matching.
 */
export const ENCRYPTION_SECRET_LABELS: Readonly<
  Record<keyof EncryptionSecrets, string>
> = Object.freeze({
  pepper: 'server/argon2-pepper',
  argon2OutputKey: 'server/argon2-output',
  blindIndexKey: 'server/blind-index',
  vaultKey: 'server/vault',
});

/**
 * Every server secret the library needs, from one 32-byte master key (keep that key in a secret
 * store or an HSM; the app may derive its own secrets from it under other labels).
 * @throws InvalidCryptoInputError when the master key is not 32 bytes.
 */
export function deriveEncryptionSecrets(masterKey: Buffer): EncryptionSecrets {
  if (!Buffer.isBuffer(masterKey) || masterKey.length !== DERIVED_KEY_BYTES)
    throw new InvalidCryptoInputError(
      `the master key is ${DERIVED_KEY_BYTES} bytes`,
    );
  return {
    pepper: hkdfSha256(masterKey, ENCRYPTION_SECRET_LABELS.pepper),
    argon2OutputKey: hkdfSha256(
      masterKey,
      ENCRYPTION_SECRET_LABELS.argon2OutputKey,
    ),
    blindIndexKey: hkdfSha256(
      masterKey,
      ENCRYPTION_SECRET_LABELS.blindIndexKey,
    ),
    vaultKey: hkdfSha256(masterKey, ENCRYPTION_SECRET_LABELS.vaultKey),
  };
}
