import { AeadAlgorithm } from '../crypto/aead';

/**
 * Process-wide settings of the column encryption. TypeORM creates transformers when entity
 * classes are decorated, before any DI container exists, so they read this instead of being
 * injected. `EncryptedColumnsModule.forRoot()` sets it from the app's configuration.
 */
export interface EncryptionSettings {
  /** AEAD for new ciphertexts; both algorithms always decrypt. */
  algorithm: AeadAlgorithm;
  /** Key of server-keyed blind indexes (the login email); from APP_MASTER_KEY via HKDF. */
  serverBlindIndexKey?: Buffer;
}

const settings: EncryptionSettings = {
  algorithm: AeadAlgorithm.XChaCha20Poly1305,
};

export function configureEncryption(update: Partial<EncryptionSettings>): void {
  Object.assign(settings, update);
}

export function encryptionSettings(): Readonly<EncryptionSettings> {
  return settings;
}
