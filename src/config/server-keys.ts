import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import type { ServerSecrets } from '../crypto/server-secrets';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { AppConfig } from './app-config';

/**
 * The server secrets in docs/crypto.md#key-hierarchy (derived from the master key by
 * `loadAppConfig`, in locked memory), injectable anywhere, wiped at shutdown.
 */
@Injectable()
export class ServerKeys implements ServerSecrets, OnApplicationShutdown {
  readonly jwtSigningKey: KeyObject;
  readonly pepper: Buffer;
  readonly argon2OutputKey: Buffer;
  readonly blindIndexKey: Buffer;
  readonly vaultKey: Buffer;
  readonly rateLimitKey: Buffer;
  readonly idempotencyKey: Buffer;
  readonly accessKeySecret: Buffer;

  constructor(config: AppConfig) {
    Object.assign(this, config.serverSecrets);
  }

  onApplicationShutdown(): void {
    zeroBuffer(
      this.pepper,
      this.argon2OutputKey,
      this.blindIndexKey,
      this.vaultKey,
      this.rateLimitKey,
      this.idempotencyKey,
      this.accessKeySecret,
    );
  }

  toJSON(): string {
    return '[server keys]';
  }
}
