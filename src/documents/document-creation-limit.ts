import { Injectable, Logger } from '@nestjs/common';
import {
  AttemptCounter,
  MemoryAttemptCounter,
  RedisAttemptCounter,
} from '../auth/rate-limit/attempt-counters';
import { RateLimitKeys } from '../auth/rate-limit/rate-limit-keys';
import { RateLimitRedis } from '../auth/rate-limit/rate-limit-redis';
import { StoreOutageLog } from '@vault-pii/nest-encryption/redis';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../common/problem/too-many-requests.error';
import {
  RateLimitPolicy,
  reportRateLimit,
} from '../common/http/rate-limit-headers';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';

/** Names the limit in a 429's `limit` member and in `RateLimit-Policy`. */
export const DOCUMENT_CREATION_LIMIT_POLICY = 'DOCUMENT_CREATION_LIMIT';

/** Seconds a client is told to wait while the counter's store (Redis) does not answer. */
const STORE_DOWN_RETRY_AFTER_SECONDS = 5;

/**
 * `DOCUMENT_CREATION_LIMIT` per `DOCUMENT_CREATION_WINDOW` per user (docs/limits.md#configurable),
 * counted where the auth rate limits count: in Redis when `REDIS_URL` is set (every instance
 * shares the count), in process memory otherwise, under an HMAC of the user id. Deleting documents
 * gives nothing back; a creation that fails does. The window is fixed, opened by the first
 * creation. Fails closed: while the store does not answer, creations answer 503.
 */
@Injectable()
export class DocumentCreationLimit {
  private readonly logger = new Logger(DocumentCreationLimit.name);
  private readonly counter: AttemptCounter;
  private readonly keys: RateLimitKeys;
  private readonly max: number;
  private readonly windowMs: number;
  private readonly policy: RateLimitPolicy;
  /** The counter store's outages, logged once each (and their end). */
  private readonly storeOutage = new StoreOutageLog(this.logger, {
    down: (reason) =>
      `document creation counter unavailable (${reason}): creations answer 503 until it answers`,
    up: 'document creation counter answering again',
  });

  constructor(
    config: AppConfig,
    serverKeys: ServerKeys,
    redis: RateLimitRedis,
  ) {
    this.counter = redis.client
      ? new RedisAttemptCounter(redis.client)
      : new MemoryAttemptCounter();
    this.keys = new RateLimitKeys(serverKeys.rateLimitKey);
    this.max = config.limits.documentCreations;
    this.windowMs = config.limits.documentCreationWindowSeconds * 1000;
    this.policy = {
      name: DOCUMENT_CREATION_LIMIT_POLICY,
      quota: this.max,
      windowSeconds: config.limits.documentCreationWindowSeconds,
    };
  }

  /**
   * Counts one creation.
   * @returns takes the creation back (call it when the document was not created after all).
   * @throws TooManyRequestsError (429, `Retry-After`: until the window ends) over the limit.
   * @throws ServiceBusyError (503) when the store does not answer.
   */
  async admit(ownerId: string): Promise<() => Promise<void>> {
    const key = this.keys.forDocumentCreations(ownerId);
    let counted;
    try {
      counted = await this.counter.increment(key, this.windowMs);
      this.storeOutage.answered();
    } catch (error) {
      this.storeOutage.failed(error);
      throw new ServiceBusyError(
        STORE_DOWN_RETRY_AFTER_SECONDS,
        'Document creation is unavailable right now; try again shortly.',
      );
    }
    if (counted.count > this.max) {
      throw new TooManyRequestsError(
        counted.msUntilReset / 1000,
        'Too many documents created recently; try again later.',
        { limit: DOCUMENT_CREATION_LIMIT_POLICY, max: this.max },
        this.policy,
      );
    }
    // The caller's own budget, on the response (docs/http-api.md#rate-limit-headers).
    const report = (count: number) =>
      reportRateLimit(this.policy, {
        remaining: this.max - count,
        resetSeconds: counted.msUntilReset / 1000,
      });
    report(counted.count);
    return async () => {
      try {
        await this.counter.decrement(key);
        this.storeOutage.answered();
        report(counted.count - 1);
      } catch (error) {
        this.storeOutage.failed(error); // at worst, one creation too many is counted
      }
    };
  }
}
