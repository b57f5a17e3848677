import { Module } from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import {
  ThrottlerModule,
  ThrottlerModuleOptions,
  ThrottlerStorageService,
} from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
import { ServerKeys } from '../../config/server-keys';
import {
  AttemptCounter,
  MemoryAttemptCounter,
  RedisAttemptCounter,
} from './attempt-counters';
import { FailOpenThrottlerStorage } from './fail-open-throttler-storage';
import { LoginAttemptsService } from './login-attempts.service';
import { RateLimitKeys } from './rate-limit-keys';
import { RateLimitRedis } from './rate-limit-redis';

/** Its own module so that ThrottlerModule's async factory can inject the connection. */
@Module({ providers: [RateLimitRedis], exports: [RateLimitRedis] })
export class RateLimitRedisModule {}

/** The per-address limit on the auth routes: one budget per client address for all of them. */
export function authThrottlerOptions(
  config: AppConfig,
  serverKeys: ServerKeys,
  redis: RateLimitRedis,
): ThrottlerModuleOptions {
  const keys = new RateLimitKeys(serverKeys.rateLimitKey);
  const windowMs = config.authRateLimitWindowSeconds * 1000;
  return {
    // Blocked for a whole window once over the limit, so Retry-After is exact in both stores.
    throttlers: [
      {
        name: 'auth-address',
        limit: config.authRateLimit,
        ttl: windowMs,
        blockDuration: windowMs,
      },
    ],
    // The default key is per route and hashes the raw address; ours spans all auth routes.
    generateKey: (_context, clientAddress) =>
      keys.forClientAddress(String(clientAddress)),
    // Retry-After comes from TooManyRequestsError (the throttler would name it `Retry-After-auth-address`).
    setHeaders: false,
    storage: redis.client
      ? new FailOpenThrottlerStorage(
          new ThrottlerStorageRedisService(redis.client),
        )
      : new ThrottlerStorageService(),
  };
}

export function createLoginAttemptsService(
  config: AppConfig,
  serverKeys: ServerKeys,
  redis: RateLimitRedis,
): LoginAttemptsService {
  const counter: AttemptCounter = redis.client
    ? new RedisAttemptCounter(redis.client)
    : new MemoryAttemptCounter();
  return new LoginAttemptsService(
    {
      maxFailures: config.loginFailureLimit,
      windowMs: config.loginFailureWindowSeconds * 1000,
    },
    counter,
    new RateLimitKeys(serverKeys.rateLimitKey),
  );
}

/**
 * Rate limits in docs/security.md#rate-limits, counted in Redis when `REDIS_URL` is set (shared by
 * every instance, keys under `REDIS_KEY_PREFIX` + `rate-limit:`), in process memory otherwise.
 * Routes opt in with `@AuthRateLimited()`; every password or recovery-code check goes through
 * `CredentialCheckService`, which counts it with `LoginAttemptsService`.
 */
@Module({
  imports: [
    RateLimitRedisModule,
    ThrottlerModule.forRootAsync({
      imports: [RateLimitRedisModule],
      inject: [AppConfig, ServerKeys, RateLimitRedis],
      useFactory: authThrottlerOptions,
    }),
  ],
  providers: [
    {
      provide: LoginAttemptsService,
      inject: [AppConfig, ServerKeys, RateLimitRedis],
      useFactory: createLoginAttemptsService,
    },
  ],
  exports: [LoginAttemptsService],
})
export class RateLimitModule {}
