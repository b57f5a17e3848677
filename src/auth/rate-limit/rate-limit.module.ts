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
import { CLIENT_IPV6_PREFIX_BITS, RateLimitKeys } from './rate-limit-keys';
import { RateLimitRedis } from './rate-limit-redis';
import { RegistrationAttemptsService } from './registration-attempts.service';

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
    // The guard's client: an IPv6 /64, an IPv4-mapped address as IPv4 (`clientAddressBucket`).
    ipv6SubnetPrefix: CLIENT_IPV6_PREFIX_BITS,
    // The default key is per route and hashes the address; ours spans all auth routes.
    generateKey: (_context, clientAddress) =>
      keys.forClientAddress(String(clientAddress)),
    // Our guard writes RateLimit/RateLimit-Policy and, on a 429, Retry-After (through
    // TooManyRequestsError); the throttler's own X-RateLimit-*-auth-address and
    // Retry-After-auth-address are never sent (docs/security.md#rate-limits).
    setHeaders: false,
    storage: redis.client
      ? new FailOpenThrottlerStorage(
          new ThrottlerStorageRedisService(redis.client),
        )
      : new ThrottlerStorageService(),
  };
}

/** Shared by every instance in Redis; in memory, each limiter holds its own bounded map. */
function attemptCounter(redis: RateLimitRedis): AttemptCounter {
  return redis.client
    ? new RedisAttemptCounter(redis.client)
    : new MemoryAttemptCounter();
}

export function createLoginAttemptsService(
  config: AppConfig,
  serverKeys: ServerKeys,
  redis: RateLimitRedis,
): LoginAttemptsService {
  return new LoginAttemptsService(
    {
      maxFailures: config.loginFailureLimit,
      windowMs: config.loginFailureWindowSeconds * 1000,
    },
    attemptCounter(redis),
    new RateLimitKeys(serverKeys.rateLimitKey),
  );
}

export function createRegistrationAttemptsService(
  config: AppConfig,
  serverKeys: ServerKeys,
  redis: RateLimitRedis,
): RegistrationAttemptsService {
  return new RegistrationAttemptsService(
    {
      maxAttempts: config.limits.registrationsPerEmail,
      windowMs: config.limits.registrationEmailWindowSeconds * 1000,
    },
    attemptCounter(redis),
    new RateLimitKeys(serverKeys.rateLimitKey),
  );
}

/**
 * Rate limits in docs/security.md#rate-limits, counted in Redis when `REDIS_URL` is set (shared by
 * every instance, keys under `REDIS_KEY_PREFIX` + `rate-limit:`), in process memory otherwise.
 * Routes opt in with `@AuthRateLimited()` (register with `@RegistrationRateLimited()`, which adds
 * the per-email count of `RegistrationAttemptsService`); every password or recovery-code check goes
 * through `CredentialCheckService`, which counts it with `LoginAttemptsService`.
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
    {
      provide: RegistrationAttemptsService,
      inject: [AppConfig, ServerKeys, RateLimitRedis],
      useFactory: createRegistrationAttemptsService,
    },
  ],
  exports: [LoginAttemptsService, RegistrationAttemptsService],
})
export class RateLimitModule {}
