import { AEAD_KEY_BYTES } from '../crypto';

/** In-process store: one app instance; sessions end with the process. */
export interface MemoryVaultStoreConfig {
  type: 'memory';
  /** Bound on live sessions; the least recently used entry is evicted beyond it. Default 100 000. */
  maxEntries?: number;
  /** How often expired entries are swept (reads also check). Default 30 000 ms. */
  sweepIntervalMs?: number;
}

/** Shared store: many app instances see the same sessions. */
export interface RedisVaultStoreConfig {
  type: 'redis';
  /** `redis://` or `rediss://` URL (may carry a password: never logged). */
  url: string;
  /** Prefix of every key this vault writes. Default `vault:`. */
  keyPrefix?: string;
  /** A command that has not answered by then fails (and the request gets a 503). Default 1000 ms. */
  commandTimeoutMs?: number;
}

export type VaultStoreConfig = MemoryVaultStoreConfig | RedisVaultStoreConfig;

/** What `KeyVaultModule.forRoot()` (or the `forRootAsync` factory) provides. */
export interface KeyVaultModuleOptions {
  /** The server's 32-byte vault secret. The vault keeps its own copy and zeroes it on shutdown. */
  vaultKey: Buffer;
  /** Sliding idle lifetime of a session's entry. Default 1800 s (docs/design.md#expiry). */
  idleTtlSeconds?: number;
  /** Absolute lifetime of a session's entry; sliding never goes past it. Default 43 200 s. */
  maxTtlSeconds?: number;
  /** Default `{ type: 'memory' }`. */
  store?: VaultStoreConfig;
  /** Current time in ms since the epoch; injectable for tests. Default `Date.now`. */
  clock?: () => number;
  /** Told how unlocks and store calls go, for metrics. Default: nobody. */
  observer?: KeyVaultObserver;
}

/**
 * What the vault reports as it works (e.g. to Prometheus metrics). Called synchronously on the
 * request's path: must be cheap and must not throw.
 */
export interface KeyVaultObserver {
  /** An `unlock` ended: its duration (store read and opening) and how it ended. */
  unlockTimed?(seconds: number, outcome: 'ok' | 'locked' | 'unavailable'): void;
  /** A store operation failed (the caller answers 503 `vault_unavailable`). */
  storeFailed?(operation: string): void;
}

/** The options with every default applied and every value checked. */
export interface ResolvedKeyVaultOptions {
  vaultKey: Buffer;
  idleTtlMs: number;
  maxTtlMs: number;
  store: Required<MemoryVaultStoreConfig> | Required<RedisVaultStoreConfig>;
  clock: () => number;
  observer: KeyVaultObserver;
}

export const KEY_VAULT_DEFAULTS = Object.freeze({
  idleTtlSeconds: 1800,
  maxTtlSeconds: 43_200,
  memory: Object.freeze({ maxEntries: 100_000, sweepIntervalMs: 30_000 }),
  redis: Object.freeze({ keyPrefix: 'vault:', commandTimeoutMs: 1000 }),
});

/** Injection token of the resolved options (the raw ones sit under `KEY_VAULT_MODULE_OPTIONS`). */
export const RESOLVED_KEY_VAULT_OPTIONS = Symbol('RESOLVED_KEY_VAULT_OPTIONS');

/**
 * Applies the defaults and rejects what cannot work, at start-up rather than on the first login.
 * @throws Error naming the bad option (never its value: the vault key is a secret).
 */
export function resolveKeyVaultOptions(
  options: KeyVaultModuleOptions,
): ResolvedKeyVaultOptions {
  const { vaultKey } = options;
  if (!Buffer.isBuffer(vaultKey) || vaultKey.length !== AEAD_KEY_BYTES) {
    throw new Error(
      `KeyVaultModule: vaultKey must be a Buffer of ${AEAD_KEY_BYTES} bytes`,
    );
  }
  const idleTtlSeconds =
    options.idleTtlSeconds ?? KEY_VAULT_DEFAULTS.idleTtlSeconds;
  const maxTtlSeconds =
    options.maxTtlSeconds ?? KEY_VAULT_DEFAULTS.maxTtlSeconds;
  assertPositiveInteger('idleTtlSeconds', idleTtlSeconds);
  assertPositiveInteger('maxTtlSeconds', maxTtlSeconds);
  if (idleTtlSeconds > maxTtlSeconds) {
    throw new Error(
      'KeyVaultModule: idleTtlSeconds must not be longer than maxTtlSeconds',
    );
  }

  const store = options.store ?? { type: 'memory' };
  let resolvedStore: ResolvedKeyVaultOptions['store'];
  if (store.type === 'memory') {
    resolvedStore = {
      type: 'memory',
      maxEntries: store.maxEntries ?? KEY_VAULT_DEFAULTS.memory.maxEntries,
      sweepIntervalMs:
        store.sweepIntervalMs ?? KEY_VAULT_DEFAULTS.memory.sweepIntervalMs,
    };
    assertPositiveInteger('store.maxEntries', resolvedStore.maxEntries);
    assertPositiveInteger(
      'store.sweepIntervalMs',
      resolvedStore.sweepIntervalMs,
    );
  } else if (store.type === 'redis') {
    if (typeof store.url !== 'string' || !/^rediss?:\/\//.test(store.url)) {
      throw new Error(
        'KeyVaultModule: store.url must be a redis:// or rediss:// URL',
      );
    }
    resolvedStore = {
      type: 'redis',
      url: store.url,
      keyPrefix: store.keyPrefix ?? KEY_VAULT_DEFAULTS.redis.keyPrefix,
      commandTimeoutMs:
        store.commandTimeoutMs ?? KEY_VAULT_DEFAULTS.redis.commandTimeoutMs,
    };
    assertPositiveInteger(
      'store.commandTimeoutMs',
      resolvedStore.commandTimeoutMs,
    );
  } else {
    throw new Error(
      `KeyVaultModule: unknown store type "${String((store as { type?: unknown }).type)}"`,
    );
  }

  return {
    vaultKey,
    idleTtlMs: idleTtlSeconds * 1000,
    maxTtlMs: maxTtlSeconds * 1000,
    store: resolvedStore,
    clock: options.clock ?? Date.now,
    observer: options.observer ?? {},
  };
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`KeyVaultModule: ${name} must be a positive whole number`);
  }
}
