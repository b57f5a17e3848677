import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { StoreOutageLog } from '@vault-pii/nest-encryption/redis';

type ThrottlerStorageRecord = Awaited<
  ReturnType<ThrottlerStorage['increment']>
>;

/**
 * The per-address limit fails open: when its store (Redis) does not answer, the request passes
 * and the outage is logged once. This limit only spreads load (argon2 costs on register, login,
 * recovery); password guessing is bounded by the per-account limit, which fails closed
 * (`LoginAttemptsService`). Failing closed here would also stop registration, the one auth
 * route that needs no Redis, for the whole outage.
 */
export class FailOpenThrottlerStorage implements ThrottlerStorage {
  private readonly outage = new StoreOutageLog(new Logger('RateLimit'), {
    down: (reason) =>
      `per-address rate limit store unavailable (${reason}): not limiting until it answers`,
    up: 'per-address rate limit store answering again',
  });

  constructor(private readonly store: ThrottlerStorage) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    try {
      const record = await this.store.increment(
        key,
        ttl,
        limit,
        blockDuration,
        throttlerName,
      );
      this.outage.answered();
      return record;
    } catch (error) {
      this.outage.failed(error);
      return {
        totalHits: 0,
        timeToExpire: 0,
        isBlocked: false,
        timeToBlockExpire: 0,
      };
    }
  }
}
