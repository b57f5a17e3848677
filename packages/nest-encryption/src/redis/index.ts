/**
 * `@vault-pii/nest-encryption/redis`: the Redis client settings the vault's Redis store runs
 * with (a command that gets no answer fails within a bound instead of queueing), exported so
 * that an app's other Redis users (rate limits, counters) behave the same during an outage.
 * Loading this entry loads ioredis; `.` never does.
 */
import '../internal/single-instance';

export {
  createFailFastRedis,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  waitForRedisReady,
} from './fail-fast-redis';
export type { FailFastRedisOptions } from './fail-fast-redis';
export { closeRedisConnection } from './close-redis';
export { describeStoreError } from './describe-store-error';
export { StoreOutageLog } from './store-outage-log';
export { redactUrlPassword } from '../internal/redact-url-password';
