import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import type { KeyRotationObserver } from '@vault-pii/nest-encryption';

/** Prefix of every metric of ours (the runtime's keep prom-client's `process_`/`nodejs_` names). */
export const METRIC_PREFIX = 'vault_pii_';

/** Seconds: from a fast cached request to the slowest allowed (KDF queue timeout, PDF render). */
const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Seconds: one argon2id call takes 50–500 ms by its parameters; waits go up to the queue timeout. */
const KDF_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10];

const NON_COUNTERS_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export type DependencyName = 'database' | 'vault_store' | 'documents';
export type DependencyStates = Partial<Record<DependencyName, boolean>>;

/**
 * Every metric the service exports (docs/operations.md#metrics), in one registry per application
 * (two apps in one test process keep theirs apart). Labels carry only names from the code — route
 * templates, status codes, table and column names, outcomes — never a user id, an email, a path
 * with ids, or any other value a request brought.
 *
 * Counting costs a few hundred nanoseconds and needs no listener; the runtime's own metrics (event
 * loop lag, heap, GC) are collected only when `collectRuntime()` is called, which the metrics
 * listener does when `METRICS_PORT` is set.
 */
export class AppMetrics {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: `${METRIC_PREFIX}http_request_duration_seconds`,
    help: 'HTTP requests by method, route template and status, with their duration (request read to response sent).',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly kdfQueueWait = new Histogram({
    name: `${METRIC_PREFIX}kdf_queue_wait_seconds`,
    help: 'Time a password check (argon2id) waited for a free slot before running.',
    buckets: KDF_BUCKETS,
    registers: [this.registry],
  });

  readonly kdfRun = new Histogram({
    name: `${METRIC_PREFIX}kdf_run_seconds`,
    help: 'Time one argon2id derivation took once admitted.',
    buckets: KDF_BUCKETS,
    registers: [this.registry],
  });

  readonly kdfQueue = new Gauge({
    name: `${METRIC_PREFIX}kdf_calls`,
    help: 'Password checks (argon2id) now waiting for a slot (state="waiting": the queue depth) or running.',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => {
      const now = this.kdfQueueState?.();
      if (!now) return;
      this.kdfQueue.set({ state: 'waiting' }, now.waiting);
      this.kdfQueue.set({ state: 'running' }, now.running);
    },
  });

  readonly kdfRefused = new Counter({
    name: `${METRIC_PREFIX}kdf_refused_total`,
    help: 'Password checks refused with 503 before running: queue full (KDF_QUEUE_LIMIT) or waited too long (KDF_QUEUE_TIMEOUT_MS).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly vaultUnlockDuration = new Histogram({
    name: `${METRIC_PREFIX}vault_unlock_duration_seconds`,
    help: "Time to read and open a session's sealed keyring from the vault store, by outcome (ok, locked, unavailable).",
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly vaultStoreErrors = new Counter({
    name: `${METRIC_PREFIX}vault_store_errors_total`,
    help: 'Vault store operations that failed (the request answered 503 vault_unavailable), by operation.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly encryptedValues = new Counter({
    name: `${METRIC_PREFIX}encrypted_column_values_total`,
    help: 'Encrypted column values sealed (encrypt) or opened (decrypt), by table and column.',
    labelNames: ['table', 'column', 'operation'] as const,
    registers: [this.registry],
  });

  readonly integrityFailures = new Counter({
    name: `${METRIC_PREFIX}encrypted_column_integrity_failures_total`,
    help: 'Encrypted column values that failed to authenticate (tampered, swapped or corrupt), by table and column.',
    labelNames: ['table', 'column'] as const,
    registers: [this.registry],
  });

  readonly rotationsRunning = new Gauge({
    name: `${METRIC_PREFIX}key_rotations_running`,
    help: 'Key rotations re-encrypting in this process now.',
    registers: [this.registry],
  });

  readonly rotationRuns = new Counter({
    name: `${METRIC_PREFIX}key_rotation_runs_total`,
    help: 'Key rotation runs that ended, by outcome (completed, stopped, failed, not-pending, running-elsewhere).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly valuesReencrypted = new Counter({
    name: `${METRIC_PREFIX}key_rotation_values_reencrypted_total`,
    help: 'Encrypted column values re-encrypted under a new key version by key rotation.',
    registers: [this.registry],
  });

  readonly filesReencrypted = new Counter({
    name: `${METRIC_PREFIX}key_rotation_files_reencrypted_total`,
    help: 'Document files re-encrypted under a new key version by key rotation.',
    registers: [this.registry],
  });

  readonly retentionDeletions = new Counter({
    name: `${METRIC_PREFIX}retention_deletions_total`,
    help: 'Things deleted by the retention jobs, by kind (expired documents, orphan and stray files, ended sessions, expired access keys).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly dependencyUp = new Gauge({
    name: `${METRIC_PREFIX}dependency_up`,
    help: 'Whether a dependency answers (1) or not (0), checked when scraped: database, vault_store, documents.',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
    collect: () => this.collectDependencies(),
  });

  private dependencyCheck?: () => Promise<DependencyStates>;
  private kdfQueueState?: () => { waiting: number; running: number };

  /** Where `kdf_calls` is read from when scraped (the password KDF's queue). */
  watchKdfQueue(state: () => { waiting: number; running: number }): void {
    this.kdfQueueState = state;
  }
  private runtimeCollected = false;

  /** Where `dependency_up` comes from (the health checks); set once by the module that owns them. */
  checkDependenciesWith(check: () => Promise<DependencyStates>): void {
    this.dependencyCheck = check;
  }

  /**
   * The runtime's metrics: event loop lag (`nodejs_eventloop_lag_*`), heap and GC, CPU, memory,
   * open handles. Its event-loop monitor runs from then on, so only a served registry starts it.
   */
  collectRuntime(): void {
    if (this.runtimeCollected) return;
    this.runtimeCollected = true;
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which Prometheus's own lint (promtool check metrics) refuses;
    // their per-type counterparts (`nodejs_active_handles{type}`…) stay.
    for (const name of NON_COUNTERS_NAMED_TOTAL)
      this.registry.removeSingleMetric(name);
  }

  /** What the key vault reports (its `KeyVaultObserver`, matched by shape). */
  vaultObserver() {
    return {
      unlockTimed: (seconds: number, outcome: string) =>
        this.vaultUnlockDuration.observe({ outcome }, seconds),
      storeFailed: (operation: string) =>
        this.vaultStoreErrors.inc({ operation }),
    };
  }

  /** What the encrypted columns report (their `EncryptedColumnsObserver`, matched by shape). */
  encryptedColumnsObserver() {
    return {
      column: (table: string, column: string) => {
        // Children bound once per column: a value's count is then one addition.
        const encrypted = this.encryptedValues.labels(table, column, 'encrypt');
        const decrypted = this.encryptedValues.labels(table, column, 'decrypt');
        const failed = this.integrityFailures.labels(table, column);
        return {
          encrypted: () => encrypted.inc(),
          decrypted: () => decrypted.inc(),
          integrityFailed: () => failed.inc(),
        };
      },
    };
  }

  /** What key rotation reports (its `KeyRotationObserver`). */
  rotationObserver(): KeyRotationObserver {
    return {
      runEnded: (outcome) => this.rotationRuns.inc({ outcome }),
      runningChanged: (delta) =>
        delta > 0 ? this.rotationsRunning.inc() : this.rotationsRunning.dec(),
      valuesReencrypted: (count) => this.valuesReencrypted.inc(count),
      // Document files are the app's one participant.
      itemsReencrypted: (count) => this.filesReencrypted.inc(count),
    };
  }

  /** The exposition text, Prometheus format 0.0.4. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return {
      contentType: this.registry.contentType,
      body: await this.registry.metrics(),
    };
  }

  private async collectDependencies(): Promise<void> {
    if (!this.dependencyCheck) return;
    const states = await this.dependencyCheck();
    for (const [dependency, up] of Object.entries(states))
      this.dependencyUp.set({ dependency }, up ? 1 : 0);
  }
}
