import { Module, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';
import { AeadAlgorithm } from '../crypto/aead';
import { configureEncryption } from './encryption-settings';

/**
 * Applies the app's configuration to `@EncryptedColumn`/`@BlindIndex` (which TypeORM builds
 * outside DI): the AEAD for new ciphertexts and the server blind-index key.
 */
@Module({})
export class EncryptedColumnsModule implements OnModuleInit {
  constructor(
    private readonly config: AppConfig,
    private readonly serverKeys: ServerKeys,
  ) {}

  onModuleInit(): void {
    configureEncryption({
      algorithm:
        this.config.encryptionAlgorithm === 'aes-256-gcm'
          ? AeadAlgorithm.Aes256Gcm
          : AeadAlgorithm.XChaCha20Poly1305,
      serverBlindIndexKey: this.serverKeys.blindIndexKey,
    });
  }
}
