import {
  Injectable,
  Logger,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { closeRedisConnection } from '@vault-pii/nest-encryption/redis';
import {
  createFailFastRedis,
  waitForRedisReady,
} from '@vault-pii/nest-encryption/redis';

/** Every rate-limit key starts with this (after `REDIS_KEY_PREFIX`). */
export const RATE_LIMIT_KEY_PREFIX = 'rate-limit:';

/**
 * The Redis connection both rate limiters share when `REDIS_URL` is set (`client` is undefined
 * otherwise: the limiters count in process memory). It fails fast like the vault's
 * (`createFailFastRedis`, `REDIS_COMMAND_TIMEOUT_MS`); each limiter decides what a failure means.
 */
@Injectable()
export class RateLimitRedis implements OnModuleInit, OnApplicationShutdown {
  readonly client: Redis | undefined;
  private readonly logger = new Logger('RateLimit');
  private readonly readyWaitMs: number;
  private closed = false;

  constructor(config: AppConfig) {
    this.readyWaitMs = Math.max(2 * config.redisCommandTimeoutMs, 2_000);
    if (!config.redisUrl) return;
    this.client = createFailFastRedis({
      url: config.redisUrl,
      keyPrefix: `${config.redisKeyPrefix}${RATE_LIMIT_KEY_PREFIX}`,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      label: 'rate-limit store',
      logger: this.logger,
    });
  }

  /** Gives Redis a moment to connect, so the first logins after start-up are not refused. */
  async onModuleInit(): Promise<void> {
    if (!this.client) return;
    if (!(await waitForRedisReady(this.client, this.readyWaitMs))) {
      this.logger.warn(
        'rate-limit store: Redis is not reachable yet; logins answer 503 until it is',
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.client || this.closed) return;
    this.closed = true;
    await closeRedisConnection(this.client);
  }
}
