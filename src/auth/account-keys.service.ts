import { Injectable } from '@nestjs/common';
import { UserKeyHierarchy } from '@vault-pii/nest-encryption';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';
import { PasswordKdf } from './kdf/password-kdf';

export type {
  PasswordMaterial,
  RecoveryMaterial,
  WrappedDataKey,
} from '@vault-pii/nest-encryption';

/**
 * The key hierarchy in docs/crypto.md#key-hierarchy applied to accounts: the library's
 * `UserKeyHierarchy` with this app's server keys, its configured argon2id cost, and every argon2id
 * call through `PasswordKdf`'s queue (docs/benchmarks.md#targets). Holds no state but the server
 * keys; every KEK it returns is the caller's to zero.
 */
@Injectable()
export class AccountKeysService extends UserKeyHierarchy {
  constructor(serverKeys: ServerKeys, config: AppConfig, kdf: PasswordKdf) {
    super({
      pepper: serverKeys.pepper,
      argon2OutputKey: serverKeys.argon2OutputKey,
      argon2Params: {
        memoryKiB: config.argon2MemoryKiB,
        iterations: config.argon2Iterations,
        parallelism: config.argon2Parallelism,
      },
      // Looked up per call, so a test's spy on `kdf.deriveMasterKey` sees every call.
      deriveMasterKey: (password, salt, params) =>
        kdf.deriveMasterKey(password, salt, params),
    });
  }
}
