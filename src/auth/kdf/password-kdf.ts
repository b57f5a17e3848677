import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { AppMetrics } from '../../common/metrics/app-metrics';
import { ServiceBusyError } from '../../common/problem/too-many-requests.error';
import { AppConfig } from '../../config/app-config';
import { ServerKeys } from '../../config/server-keys';
import {
  Argon2Params,
  derivePasswordMasterKey,
} from '@vault-pii/nest-encryption/crypto';
import {
  ConcurrencyLimit,
  ConcurrencyLimitRefusedError,
} from './concurrency-limit';
import { kdfConcurrency, lowerThreadpoolPriority } from './threadpool-priority';

/**
 * Niceness of libuv's threadpool threads, where argon2id runs: the event loop and PostgreSQL
 * (niceness 0) then get the CPU whenever they want it (CFS weights 1024 against 110), and
 * argon2id the rest. Measured here (2 cores, busy host, side by side): p99 of
 * `GET /v1/me/profile` during a login storm 2.5 s at niceness 0 with 4 calls at once, 1.2 s at
 * 0 with 2, 1.0 s at 5, 0.2 s at 10 and at 19. Not 19: beside other busy processes on a shared
 * host, argon2id would get almost no CPU and logins would crawl; at 10 it still gets a tenth.
 */
export const KDF_THREAD_NICENESS = 10;

/**
 * The app's one door to argon2id (`derivePasswordMasterKey`, docs/crypto.md#key-hierarchy), so that
 * a login storm can neither starve the event loop nor fill libuv's threadpool
 * (docs/benchmarks.md#targets):
 * - at most `kdfConcurrency()` calls at once (one per core, and a threadpool thread always left
 *   for file and DNS work); the rest wait here, in order — at most `KDF_QUEUE_LIMIT` of them, each
 *   at most `KDF_QUEUE_TIMEOUT_MS` (docs/limits.md#configurable). Beyond either, the call fails at
 *   once with 503 `service_unavailable` and `Retry-After`, and no password is checked: a storm of
 *   logins is turned away quickly instead of making every login, the legitimate ones too, wait
 *   behind it for seconds;
 * - on threadpool threads of lower CPU priority than the event loop (Linux; see
 *   `lowerThreadpoolPriority`).
 */
@Injectable()
export class PasswordKdf implements OnApplicationBootstrap {
  private readonly logger = new Logger(PasswordKdf.name);
  private readonly limit: ConcurrencyLimit;
  /** Every waiter now queued has started or left by then: the queue has turned over. */
  private readonly retryAfterSeconds: number;
  private refusing = false;

  constructor(
    private readonly serverKeys: ServerKeys,
    config: AppConfig,
    private readonly metrics: AppMetrics,
  ) {
    const { kdfQueue, kdfQueueTimeoutMs } = config.limits;
    this.limit = new ConcurrencyLimit(kdfConcurrency(), {
      maxQueued: kdfQueue,
      maxWaitMs: kdfQueueTimeoutMs,
    });
    this.retryAfterSeconds = kdfQueueTimeoutMs / 1000;
    metrics.watchKdfQueue(() => ({
      waiting: this.limit.queued,
      running: this.limit.active,
    }));
  }

  async onApplicationBootstrap(): Promise<void> {
    const outcome = await lowerThreadpoolPriority(KDF_THREAD_NICENESS);
    if ('skipped' in outcome)
      this.logger.debug(`threadpool priority unchanged: ${outcome.skipped}`);
    else
      this.logger.debug(
        `${outcome.lowered} threadpool threads at niceness ${outcome.niceness}; argon2id ${this.limit.limit} at a time`,
      );
  }

  /**
   * password ─argon2id(salt, secret = pepper)→ (keyed by the argon2-output key when
   * `params.version` is 2) master key, in turn. The caller zeroes it.
   * @throws ServiceBusyError when the queue is full or the wait too long (nothing was derived).
   */
  async deriveMasterKey(
    password: string,
    salt: Buffer,
    params: Argon2Params,
  ): Promise<Buffer> {
    const queued = performance.now();
    try {
      return await this.limit.run(async () => {
        const admitted = performance.now();
        this.metrics.kdfQueueWait.observe((admitted - queued) / 1000);
        this.noteAdmitted();
        try {
          return await derivePasswordMasterKey(
            password,
            salt,
            params,
            this.serverKeys,
          );
        } finally {
          this.metrics.kdfRun.observe((performance.now() - admitted) / 1000);
        }
      });
    } catch (error) {
      if (!(error instanceof ConcurrencyLimitRefusedError)) throw error;
      this.metrics.kdfRefused.inc({ reason: error.reason });
      this.noteRefused();
      throw new ServiceBusyError(
        this.retryAfterSeconds,
        'Too many password checks are waiting; try again shortly.',
        {
          limit:
            error.reason === 'queue_full'
              ? 'KDF_QUEUE_LIMIT'
              : 'KDF_QUEUE_TIMEOUT_MS',
        },
      );
    }
  }

  // One warning per busy spell, not one per refused request.
  private noteRefused(): void {
    if (this.refusing) return;
    this.refusing = true;
    this.logger.warn(
      `argon2id queue full or too slow (KDF_QUEUE_LIMIT, KDF_QUEUE_TIMEOUT_MS): password checks answer 503 until it drains`,
    );
  }

  // The spell ends once a call starts with nobody waiting behind it.
  private noteAdmitted(): void {
    if (!this.refusing || this.limit.queued > 0) return;
    this.refusing = false;
    this.logger.log('argon2id queue drained: password checks admitted again');
  }
}
