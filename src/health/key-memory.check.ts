import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import {
  secureMemoryLocked,
  secureMemoryStatus,
} from '@vault-pii/nest-encryption/crypto';

export type KeyMemoryState = 'locked' | 'unlocked';

/**
 * The start-up self-check in docs/crypto.md#keys-in-memory: every key lives in libsodium secure
 * memory, which is excluded from core dumps in any case but kept out of swap only if mlock
 * succeeds within RLIMIT_MEMLOCK (or with CAP_IPC_LOCK). When it does not, keys still work, so
 * the service still starts: in production with a loud warning naming the fix, and
 * `/health/ready` reports `keyMemory: "unlocked"` for monitoring to alert on.
 */
@Injectable()
export class KeyMemoryCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('KeyMemory');

  constructor(private readonly config: AppConfig) {}

  /** For `/health/ready`: no I/O. */
  state(): KeyMemoryState {
    return secureMemoryLocked() ? 'locked' : 'unlocked';
  }

  onApplicationBootstrap(): void {
    const status = secureMemoryStatus();
    const limit =
      status.memlockLimitBytes === undefined
        ? 'unknown'
        : status.memlockLimitBytes === Infinity
          ? 'unlimited'
          : `${status.memlockLimitBytes} bytes`;
    if (status.locked) {
      this.logger.log(
        { secureBytes: status.secureBytes, memlockLimit: limit },
        'key memory is locked (mlock) and excluded from core dumps',
      );
      return;
    }
    const message =
      `key memory is NOT locked: ${status.lockFailure ?? 'mlock failed'} (RLIMIT_MEMLOCK ${limit}). ` +
      'Keys stay out of core dumps but may be written to swap. Fix: raise the memlock limit ' +
      '(`ulimit -l 1024` or more; Docker: `--ulimit memlock=-1:-1`, compose `ulimits: { memlock: -1 }`; ' +
      'systemd: `LimitMEMLOCK=infinity`) or grant CAP_IPC_LOCK (compose `cap_add: [IPC_LOCK]`), ' +
      'and run without swap or with encrypted swap. See docs/operations.md.';
    if (this.config.isProduction) this.logger.error(message);
    else this.logger.warn(message);
  }
}
