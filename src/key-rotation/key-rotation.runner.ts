import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { DataSource, QueryRunner } from 'typeorm';
import { AppMetrics } from '../common/metrics/app-metrics';
import { advisoryLockKey } from '../database/advisory-lock-key';
import { DocumentKeyRotation } from '../documents/document-key-rotation';
import {
  BlindIndexes,
  KeyContext,
  type Keyring,
  SessionKeyVault,
  type VaultSession,
  discoverEncryptedEntities,
  EncryptedEntity,
  keyVersionBytes,
  RotationSql,
  rotationSqlFor,
} from '@vault-pii/nest-encryption';

/** Rows re-encrypted per transaction: small enough to keep locks short and memory flat. */
export const ROTATION_BATCH_ROWS = 500;
/**
 * The old key is destroyed no sooner than this after the rotation started, so that a request that
 * unlocked its keys just before the start (and so still encrypts under the old version) has
 * usually committed, and its rows are re-encrypted rather than refused. Safety does not rest on
 * it: see `KeyVersionWriteGuard` and `destroyOldKeys`.
 */
const IN_FLIGHT_GRACE_MS = 1_000;
/** Final checks that found fresh old-version ciphertexts before the run gives up for now. */
const MAX_PASSES = 5;
const PROGRESS_LOG_INTERVAL_MS = 2_000;

export type RotationOutcome =
  'completed' | 'not-pending' | 'running-elsewhere' | 'stopped';

export interface RotationReport {
  outcome: RotationOutcome;
  rows: number;
  values: number;
  files: number;
  /** The whole run, final check and grace wait included. */
  durationMs: number;
  /** Time spent re-encrypting (columns and files): what the rates are computed from. */
  reencryptMs: number;
}

interface Progress {
  rows: number;
  values: number;
  files: number;
  reencryptMs: number;
  startedMs: number;
  lastLogMs: number;
}

class RotationStopped extends Error {}

/**
 * One run of a user's key rotation: re-encrypts their data under the new key version and then
 * destroys the old one (docs/crypto.md#key-rotation). Resumable by construction: the work left is
 * exactly the ciphertexts whose envelope names another version than the new one (bytes 3–6 of every
 * envelope, 7–10 of every document file), found by query each batch; progress lives in the
 * `key_rotations` row, which exists until the old wrapped key is deleted — and that happens only in
 * a transaction that first finds no ciphertext left under it.
 *
 * One run per user at a time across every instance: a PostgreSQL advisory lock held on the run's
 * own connection, released by the server if the process dies. When runs start: `KeyRotationJob`.
 */
@Injectable()
export class KeyRotationRunner implements OnModuleInit {
  // Named like before the split: operators filter the run's lines on this context.
  private readonly logger = new Logger('KeyRotationJob');
  private entities: EncryptedEntity[] = [];
  private readonly sql = new Map<EncryptedEntity, RotationSql>();
  private stopping = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly documents: DocumentKeyRotation,
    private readonly vault: SessionKeyVault,
    private readonly blindIndexes: BlindIndexes,
    private readonly metrics: AppMetrics,
  ) {}

  /**
   * Finds every `@EncryptedColumn` entity (one without an owner column stops start-up here) and
   * builds its statements. The write guard that keeps new ciphertexts from landing under a
   * destroyed version is `EncryptedColumnsModule`'s, installed whether or not rotation is loaded.
   */
  onModuleInit(): void {
    this.entities = discoverEncryptedEntities(
      this.dataSource.entityMetadatas,
      (column) => this.dataSource.driver.normalizeType(column),
    );
    const escape = (name: string) => this.dataSource.driver.escape(name);
    for (const entity of this.entities)
      this.sql.set(entity, rotationSqlFor(entity, escape));
    this.logger.log(
      { entities: this.entities.map((entity) => entity.name) },
      'key rotation covers these encrypted entities',
    );
  }

  get encryptedEntities(): readonly EncryptedEntity[] {
    return this.entities;
  }

  /** Runs stop after their current batch or file; their rows stay for the next start. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Re-encrypts `userId`'s data unless another process holds the run. Takes ownership of
   * `keyring`, which must hold the rotation's old and new versions. When `session` is given, its
   * vault entry is re-stored without the destroyed key once the rotation completes.
   * @throws when the run fails (logged here); the rotation stays pending.
   */
  async execute(
    userId: string,
    keyring: Keyring,
    session: VaultSession | undefined,
  ): Promise<RotationReport> {
    const progress: Progress = {
      rows: 0,
      values: 0,
      files: 0,
      reencryptMs: 0,
      startedMs: performance.now(),
      lastLogMs: performance.now(),
    };
    const summary = (outcome: RotationOutcome): RotationReport => ({
      outcome,
      rows: progress.rows,
      values: progress.values,
      files: progress.files,
      durationMs: Math.round(performance.now() - progress.startedMs),
      reencryptMs: Math.round(progress.reencryptMs),
    });
    /** The run's end, counted by outcome. */
    const report = (outcome: RotationOutcome): RotationReport => {
      this.metrics.rotationRuns.inc({ outcome });
      return summary(outcome);
    };
    const runner = this.dataSource.createQueryRunner();
    const lockKey = advisoryLockKey('key-rotation', userId);
    try {
      await runner.connect();
      const [{ locked }] = (await runner.query(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked',
        [lockKey],
      )) as { locked: boolean }[];
      if (!locked) return report('running-elsewhere');
      let running = false;
      try {
        const [state] = (await runner.query(
          `SELECT from_version, to_version,
                  GREATEST(0, $2::float8 - EXTRACT(EPOCH FROM clock_timestamp() - started_at) * 1000)::int AS grace_ms
             FROM key_rotations WHERE user_id = $1`,
          [userId, IN_FLIGHT_GRACE_MS],
        )) as (
          | { from_version: number; to_version: number; grace_ms: number }
          | undefined
        )[];
        if (!state) return report('not-pending');
        const toVersion = state.to_version;
        const graceUntil = Date.now() + Number(state.grace_ms);
        // The rotation's two versions, the new one active (throws when the keyring lacks either).
        const work = keyring.copy({
          versions: [state.from_version, toVersion],
          activeVersion: toVersion,
        });
        this.metrics.rotationsRunning.inc();
        running = true;
        this.logger.log(
          { userId, fromVersion: state.from_version, toVersion },
          'key rotation running',
        );
        await KeyContext.runWithKeyring(work, async () => {
          for (let pass = 1; ; pass++) {
            const passStarted = performance.now();
            await this.reencryptColumns(runner, userId, toVersion, progress);
            await this.reencryptFiles(userId, toVersion, work, progress);
            progress.reencryptMs += performance.now() - passStarted;
            const wait = graceUntil - Date.now();
            if (wait > 0)
              await new Promise((resolve) => setTimeout(resolve, wait));
            if (await this.destroyOldKeys(runner, userId, toVersion)) break;
            if (pass >= MAX_PASSES)
              throw new Error(
                'ciphertexts under the old key version keep appearing',
              );
          }
          if (session) await this.pruneSessionKeys(session, work);
        });
        const done = report('completed');
        this.logger.log(
          { userId, toVersion, ...done, ...rates(done) },
          'key rotation completed: old key version destroyed',
        );
        return done;
      } finally {
        if (running) this.metrics.rotationsRunning.dec();
        await runner
          .query('SELECT pg_advisory_unlock($1::bigint)', [lockKey])
          .catch(() => undefined);
      }
    } catch (error) {
      if (error instanceof RotationStopped) {
        this.logger.warn(
          { userId, ...report('stopped') },
          'key rotation paused by shutdown; the next login or request resumes it',
        );
        return report('stopped');
      }
      this.metrics.rotationRuns.inc({ outcome: 'failed' });
      this.logger.error(
        {
          userId,
          err: { type: (error as Error)?.name },
          ...summary('stopped'),
        },
        'key rotation failed; it stays pending',
      );
      throw error;
    } finally {
      keyring.zero();
      await runner.release().catch(() => undefined);
    }
  }

  /**
   * Re-stores a live session's vault entry with only the versions that still exist, so no copy of
   * a destroyed key outlives the rotation. A session that has ended (logout, revocation), even one
   * ending while this runs, is not brought back: the store replaces live entries only.
   */
  async pruneSessionKeys(
    session: VaultSession,
    keyring: Keyring,
  ): Promise<void> {
    const stored: { key_version: number; active_key_version: number }[] =
      await this.dataSource.query(
        `SELECT k.key_version, u.active_key_version FROM user_data_keys k JOIN users u ON u.id = k.user_id WHERE k.user_id = $1`,
        [session.userId],
      );
    if (stored.length === 0) return;
    const existing = new Set(stored.map((row) => row.key_version));
    const active = stored[0].active_key_version;
    const keep = keyring.versions.filter((version) => existing.has(version));
    if (keep.length === keyring.versions.length || !keep.includes(active))
      return;
    const pruned = keyring.copy({ versions: keep, activeVersion: active });
    try {
      // Only while the session is live: one revoked since its keyring was read stays ended.
      await this.vault.replaceLive(session, pruned);
    } finally {
      pruned.zero();
    }
  }

  /** Batches of rows still holding a ciphertext under another version, per encrypted entity. */
  private async reencryptColumns(
    runner: QueryRunner,
    userId: string,
    toVersion: number,
    progress: Progress,
  ): Promise<void> {
    const versionBytes = keyVersionBytes(toVersion);
    for (const entity of this.entities) {
      const sql = this.sql.get(entity) as RotationSql;
      for (;;) {
        if (this.stopping) throw new RotationStopped();
        await runner.startTransaction();
        let batch: { rows: number; values: number };
        try {
          const rows = (await runner.query(sql.selectStale, [
            userId,
            versionBytes,
            ROTATION_BATCH_ROWS,
          ])) as Record<string, unknown>[];
          if (rows.length === 0) {
            await runner.commitTransaction();
            break;
          }
          const { parameters, values } = reencryptRows(
            entity,
            rows,
            this.blindIndexes,
          );
          await runner.query(sql.update, parameters);
          await runner.query(
            `UPDATE key_rotations SET rows_reencrypted = rows_reencrypted + $2, values_reencrypted = values_reencrypted + $3,
                    updated_at = now() WHERE user_id = $1`,
            [userId, rows.length, values],
          );
          await runner.commitTransaction();
          batch = { rows: rows.length, values };
        } catch (error) {
          await runner.rollbackTransaction().catch(() => undefined);
          throw error;
        }
        progress.rows += batch.rows;
        progress.values += batch.values;
        this.metrics.valuesReencrypted.inc(batch.values);
        this.logProgress(userId, progress, entity.name);
      }
    }
  }

  private async reencryptFiles(
    userId: string,
    toVersion: number,
    keyring: Keyring,
    progress: Progress,
  ): Promise<void> {
    for (const id of await this.documents.filesNotUnder(userId, toVersion)) {
      if (this.stopping) throw new RotationStopped();
      if (await this.documents.reencrypt(userId, id, keyring)) {
        progress.files++;
        this.metrics.filesReencrypted.inc();
        await this.dataSource.query(
          'UPDATE key_rotations SET files_reencrypted = files_reencrypted + 1, updated_at = now() WHERE user_id = $1',
          [userId],
        );
      }
    }
  }

  /**
   * In one transaction holding the user's row: checks that no column value and no file is left
   * under another version, then deletes the other versions' wrapped keys and the rotation row.
   * @returns false when something under the old version appeared meanwhile (another pass runs).
   */
  private async destroyOldKeys(
    runner: QueryRunner,
    userId: string,
    toVersion: number,
  ): Promise<boolean> {
    const versionBytes = keyVersionBytes(toVersion);
    await runner.startTransaction();
    try {
      // Serialises with password changes and recovery (they re-wrap every version). Not FOR
      // UPDATE: a concurrent write's foreign-key check takes KEY SHARE on this row.
      const [user] = (await runner.query(
        'SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE',
        [userId],
      )) as unknown[];
      if (user) {
        // Waits for every write that locked an old version's key FOR KEY SHARE (KeyVersionWriteGuard)
        // to commit, so the checks below see its rows; a write that comes later waits for this
        // transaction, finds the key gone and is rolled back.
        await runner.query(
          'SELECT key_version FROM user_data_keys WHERE user_id = $1 AND key_version <> $2 FOR UPDATE',
          [userId, toVersion],
        );
        for (const entity of this.entities) {
          const [left] = (await runner.query(
            (this.sql.get(entity) as RotationSql).anyStale,
            [userId, versionBytes],
          )) as unknown[];
          if (left) {
            await runner.rollbackTransaction();
            return false;
          }
        }
        if (
          (
            await this.documents.filesNotUnder(
              userId,
              toVersion,
              runner.manager,
            )
          ).length > 0
        ) {
          await runner.rollbackTransaction();
          return false;
        }
        await runner.query(
          'DELETE FROM user_data_keys WHERE user_id = $1 AND key_version <> $2',
          [userId, toVersion],
        );
        await runner.query('DELETE FROM key_rotations WHERE user_id = $1', [
          userId,
        ]);
      }
      await runner.commitTransaction();
      return true;
    } catch (error) {
      await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }

  private logProgress(
    userId: string,
    progress: Progress,
    entity: string,
  ): void {
    const now = performance.now();
    if (now - progress.lastLogMs < PROGRESS_LOG_INTERVAL_MS) return;
    progress.lastLogMs = now;
    const current = {
      rows: progress.rows,
      values: progress.values,
      files: progress.files,
      reencryptMs: Math.round(now - progress.startedMs),
    };
    this.logger.log(
      { userId, entity, ...current, ...rates(current) },
      'key rotation progress',
    );
  }
}

/**
 * Decrypts each value with the version its envelope names and encrypts it under the active one,
 * recomputing the blind indexes. @returns the `update` statement's parameters (see `rotation-sql`).
 */
function reencryptRows(
  entity: EncryptedEntity,
  rows: Record<string, unknown>[],
  blindIndexes: BlindIndexes,
): { parameters: unknown[]; values: number } {
  const primary: unknown[] = [];
  const columns = entity.encryptedColumns.map(() => [] as (Buffer | null)[]);
  const indexes = entity.blindIndexes.map(() => [] as (Buffer | null)[]);
  let values = 0;
  for (const row of rows) {
    primary.push(row[entity.primaryColumn.databaseName]);
    const plain: Record<string, unknown> = {};
    for (const column of entity.encryptedColumns)
      plain[column.propertyName] = column.transformer.from(
        row[column.databaseName] as Buffer | null,
      );
    // Per-user blind indexes are keyed by the DEK version: recomputed under the new one.
    blindIndexes.fill(entity.target, plain);
    entity.encryptedColumns.forEach((column, i) => {
      const sealed = column.transformer.to(plain[column.propertyName]) ?? null;
      if (sealed) values++;
      columns[i].push(sealed);
    });
    entity.blindIndexes.forEach((index, i) =>
      indexes[i].push((plain[index.propertyName] as Buffer | null) ?? null),
    );
  }
  return { parameters: [primary, ...columns, ...indexes], values };
}

function rates(report: { rows: number; values: number; reencryptMs: number }): {
  rowsPerSecond: number;
  valuesPerSecond: number;
} {
  const seconds = Math.max(report.reencryptMs, 1) / 1000;
  return {
    rowsPerSecond: Math.round(report.rows / seconds),
    valuesPerSecond: Math.round(report.values / seconds),
  };
}
