import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { describeStoreError } from '../../key-vault/vault-store';
import { closeRedisConnection } from '../../common/redis/close-redis';

/** Every rate-limit key starts with this (after `REDIS_KEY_PREFIX`). */
export const RATE_LIMIT_KEY_PREFIX = 'rate-limit:';

const COMMAND_TIMEOUT_MS = 1_000;
const READY_WAIT_MS = 2_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * The Redis connection both rate limiters share when `REDIS_URL` is set (`client` is undefined
 * otherwise: the limiters count in process memory). Tuned like the vault's: no offline queue, a
 * command timeout, reconnecting in the background; each limiter decides what a failure means.
 */
@Injectable()
export class RateLimitRedis implements OnModuleInit, OnApplicationShutdown {
  readonly client: Redis | undefined;
  private readonly logger = new Logger('RateLimit');
  private connectionLost = false;
  private closed = false;

  constructor(config: AppConfig) {
    if (!config.redisUrl) return;
    const client = new Redis(config.redisUrl, {
      keyPrefix: `${config.redisKeyPrefix}${RATE_LIMIT_KEY_PREFIX}`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: READY_WAIT_MS,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), MAX_RECONNECT_DELAY_MS),
      disconnectTimeout: 500,
    });
    // Without an 'error' listener ioredis prints every failed reconnect; log each outage once.
    client.on('error', (error: Error) => {
      if (this.connectionLost || this.closed) return;
      this.connectionLost = true;
      this.logger.warn(`rate-limit store: Redis connection failed (${describeStoreError(error)}); retrying in the background`);
    });
    client.on('ready', () => {
      if (!this.connectionLost) return;
      this.connectionLost = false;
      this.logger.log('rate-limit store: Redis connection restored');
    });
    this.client = client;
  }

  /** Gives Redis a moment to connect, so the first logins after start-up are not refused. */
  async onModuleInit(): Promise<void> {
    const client = this.client;
    if (!client || client.status === 'ready') return;
    const ready = await new Promise<boolean>((resolve) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        resolve(false);
      }, READY_WAIT_MS);
      timer.unref();
      client.once('ready', onReady);
    });
    if (!ready) this.logger.warn('rate-limit store: Redis is not reachable yet; logins answer 503 until it is');
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.client || this.closed) return;
    this.closed = true;
    await closeRedisConnection(this.client);
  }
}
