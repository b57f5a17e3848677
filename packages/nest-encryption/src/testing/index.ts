/**
 * `@vault-pii/nest-encryption/testing`: helpers for an app's own tests (README.md#testing). It is
 * the only entry that may import `@nestjs/testing` and `@nestjs/typeorm`.
 */
import '../internal/single-instance';

// --- Test doubles and probes for the infrastructure around the keys ---
export { FakeClock } from './fake-clock';
export { FakeRedisServer } from './fake-redis-server';
export type { FakeRedisServerOptions } from './fake-redis-server';
export {
  probeRedisSync,
  redactUrlPassword,
  redisSkipReason,
} from './redis-probe';
export type { RedisProbe } from './redis-probe';
export { findFreePort } from '../internal/find-free-port';
