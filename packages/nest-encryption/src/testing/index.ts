/**
 * `@vault-pii/nest-encryption/testing`: helpers for an app's own tests (docs/testing.md). It is
 * the only entry that may import `@nestjs/testing` and `@nestjs/typeorm` (loaded only by
 * `createEncryptionTestingModule`, so the rest works without them).
 */
import '../internal/single-instance';

// --- PostgreSQL for tests: a server (given or embedded) and a database per test file ---
export {
  jestGlobalSetup,
  jestGlobalTeardown,
  startTestPostgres,
} from './test-postgres';
export type { StartTestPostgresOptions, TestPostgres } from './test-postgres';
export { createTestDatabase, withPgClient } from './test-database';
export type { TestDatabase } from './test-database';

// --- The encryption modules on a fresh database, users with keys, and their scope ---
export {
  KEYS_NEVER_DESTROYED_SQL,
  createEncryptionTestingModule,
  createUserWithKeys,
  withUserKeys,
} from './encryption-testing-module';
export type {
  CreateUserWithKeysOptions,
  EncryptionTestingContext,
  EncryptionTestingModuleOptions,
  TestUser,
  UserKeys,
} from './encryption-testing-module';
export { throwAwayKeys } from './throw-away-keys';
export type { ThrowAwayKeys } from './throw-away-keys';

// --- What the database holds: ciphertext (or, while adopting, plaintext) ---
export {
  StoredValueAssertionError,
  assertStoredAsCiphertext,
  assertStoredAsPlaintext,
} from './stored-values';
export type {
  Plaintext,
  StoredAsCiphertextOptions,
  StoredAsPlaintextOptions,
  StoredRow,
} from './stored-values';

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
