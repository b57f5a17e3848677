import { Injectable, Logger } from '@nestjs/common';
import {
  AttemptCounter,
  MemoryAttemptCounter,
  RedisAttemptCounter,
} from '../auth/rate-limit/attempt-counters';
import { RateLimitKeys } from '../auth/rate-limit/rate-limit-keys';
import { RateLimitRedis } from '../auth/rate-limit/rate-limit-redis';
import { describeStoreError } from '../common/redis/describe-store-error';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../common/problem/too-many-requests.error';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';

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
  private storeFailing = false;

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
      this.noteStore();
    } catch (error) {
      this.noteStore(error);
      throw new ServiceBusyError(
        STORE_DOWN_RETRY_AFTER_SECONDS,
        'Document creation is unavailable right now; try again shortly.',
      );
    }
    if (counted.count > this.max) {
      throw new TooManyRequestsError(
        counted.msUntilReset / 1000,
        'Too many documents created recently; try again later.',
        { limit: 'DOCUMENT_CREATION_LIMIT', max: this.max },
      );
    }
    return async () => {
      try {
        await this.counter.decrement(key);
        this.noteStore();
      } catch (error) {
        this.noteStore(error); // at worst, one creation too many is counted
      }
    };
  }

  /** Logs the store's failure once, and its recovery once. */
  private noteStore(error?: unknown): void {
    if (error === undefined) {
      if (!this.storeFailing) return;
      this.storeFailing = false;
      this.logger.log('document creation counter answering again');
      return;
    }
    if (this.storeFailing) return;
    this.storeFailing = true;
    this.logger.error(
      `document creation counter unavailable (${describeStoreError(error)}): creations answer 503 until it answers`,
    );
  }
}
