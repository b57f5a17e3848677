import type { ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { StoreOutageLog } from '@vault-pii/nest-encryption/redis';
import {
  RateLimitPolicy,
  reportRateLimit,
  setRateLimitHeaders,
} from '../../common/http/rate-limit-headers';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../../common/problem/too-many-requests.error';
import {
  AttemptCounter,
  MemoryAttemptCounter,
  RedisAttemptCounter,
} from './attempt-counters';
import type { RateLimitRedis } from './rate-limit-redis';

/** Seconds a client is told to wait while the counter's store (Redis) does not answer. */
const STORE_DOWN_RETRY_AFTER_SECONDS = 5;

export interface FixedWindowLimitOptions {
  /** Names the limit in a 429's `limit` member and in `RateLimit-Policy` (the setting's name). */
  policy: RateLimitPolicy;
  /** What the counter store's outages are about, in log lines and 503s ("document creation"). */
  subject: string;
  /** The 429's detail. */
  tooManyDetail: string;
  logger: Logger;
}

/**
 * `policy.quota` per `policy.windowSeconds` per opaque key, counted where the auth rate limits
 * count: in Redis when `REDIS_URL` is set (every instance shares the count), in process memory
 * otherwise. The window is fixed, opened by the first count. Fails closed: while the store does
 * not answer, `admit` answers 503. Reports the caller's budget in `RateLimit` headers
 * (docs/http-api.md#rate-limit-headers).
 */
export class FixedWindowLimit {
  private readonly counter: AttemptCounter;
  private readonly windowMs: number;
  private readonly storeOutage: StoreOutageLog;

  constructor(
    redis: RateLimitRedis,
    private readonly options: FixedWindowLimitOptions,
  ) {
    this.counter = redis.client
      ? new RedisAttemptCounter(redis.client)
      : new MemoryAttemptCounter();
    this.windowMs = options.policy.windowSeconds * 1000;
    this.storeOutage = new StoreOutageLog(options.logger, {
      down: (reason) =>
        `${options.subject} counter unavailable (${reason}): answering 503 until it answers`,
      up: `${options.subject} counter answering again`,
    });
  }

  /**
   * Counts one under `key`.
   * @param response where the budget is reported; by default the request's (`reportRateLimit`).
   * @returns takes the count back (call it when what was counted did not happen after all).
   * @throws TooManyRequestsError (429, `Retry-After`: until the window ends) over the limit.
   * @throws ServiceBusyError (503) when the store does not answer.
   */
  async admit(
    key: string,
    response?: ServerResponse,
  ): Promise<() => Promise<void>> {
    const { policy } = this.options;
    let counted;
    try {
      counted = await this.counter.increment(key, this.windowMs);
      this.storeOutage.answered();
    } catch (error) {
      this.storeOutage.failed(error);
      throw new ServiceBusyError(
        STORE_DOWN_RETRY_AFTER_SECONDS,
        `${capitalized(this.options.subject)} is unavailable right now; try again shortly.`,
      );
    }
    if (counted.count > policy.quota) {
      throw new TooManyRequestsError(
        counted.msUntilReset / 1000,
        this.options.tooManyDetail,
        { limit: policy.name, max: policy.quota },
        policy,
      );
    }
    const report = (count: number) => {
      const state = {
        remaining: policy.quota - count,
        resetSeconds: counted.msUntilReset / 1000,
      };
      if (response) setRateLimitHeaders(response, policy, state);
      else reportRateLimit(policy, state);
    };
    report(counted.count);
    return async () => {
      try {
        await this.counter.decrement(key);
        this.storeOutage.answered();
        report(counted.count - 1);
      } catch (error) {
        this.storeOutage.failed(error); // at worst, one too many is counted
      }
    };
  }
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
