import { Logger } from '@nestjs/common';
import { ResolvedKeyVaultOptions } from '../key-vault.options';
import { VaultStore } from '../vault-store';
import { MemoryVaultStore } from './memory-vault-store';
import type {
  RedisVaultStore,
  RedisVaultStoreOptions,
} from './redis-vault-store';

/**
 * A Redis `VaultStore` (for a store built outside `KeyVaultModule`: benchmarks, scripts). The
 * store's module, and with it ioredis, loads only here: ioredis is an optional peer, absent from
 * apps that keep sessions in memory.
 */
export async function createRedisVaultStore(
  options: RedisVaultStoreOptions,
): Promise<RedisVaultStore> {
  const { RedisVaultStore } = await import('./redis-vault-store');
  return new RedisVaultStore(options);
}

/**
 * Builds the store the options name. A Redis store gets a moment to connect so the first
 * requests after start-up do not fail; if Redis is down, the app starts anyway (requests needing
 * keys answer 503 and readiness reports the vault down) and the client keeps reconnecting.
 */
export async function createVaultStore(
  options: ResolvedKeyVaultOptions,
): Promise<VaultStore> {
  const { store, idleTtlMs, maxTtlMs, clock } = options;
  if (store.type === 'memory') {
    const { maxEntries, sweepIntervalMs } = store;
    return new MemoryVaultStore({
      idleTtlMs,
      maxTtlMs,
      clock,
      maxEntries,
      sweepIntervalMs,
    });
  }
  const redisStore = await createRedisVaultStore({
    url: store.url,
    keyPrefix: store.keyPrefix,
    commandTimeoutMs: store.commandTimeoutMs,
    idleTtlMs,
    maxTtlMs,
    clock,
  });
  if (
    !(await redisStore.waitUntilReady(
      Math.max(2 * store.commandTimeoutMs, 2_000),
    ))
  ) {
    new Logger('KeyVaultModule').warn(
      'vault store: Redis is not reachable yet; sessions answer 503 until it is',
    );
  }
  return redisStore;
}
