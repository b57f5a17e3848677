import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { deriveServerSecrets, ServerSecrets } from '../crypto/server-secrets';
import { zeroBuffer } from '../crypto/secure-memory';
import { AppConfig } from './app-config';

/**
 * The server secrets of SPEC §1, derived once from `APP_MASTER_KEY` with distinct HKDF labels,
 * injectable anywhere, zeroed at shutdown.
 */
@Injectable()
export class ServerKeys implements ServerSecrets, OnApplicationShutdown {
  readonly jwtSigningKey: KeyObject;
  readonly pepper: Buffer;
  readonly blindIndexKey: Buffer;
  readonly vaultKey: Buffer;
  readonly rateLimitKey: Buffer;

  constructor(config: AppConfig) {
    Object.assign(this, deriveServerSecrets(config.masterKey));
  }

  onApplicationShutdown(): void {
    zeroBuffer(this.pepper, this.blindIndexKey, this.vaultKey, this.rateLimitKey);
  }

  toJSON(): string {
    return '[server keys]';
  }
}
