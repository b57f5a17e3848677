import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { DataSource, QueryRunner } from 'typeorm';
import { BlindIndexes } from '../encrypted-column/blind-index';
import { advisoryLockKey } from '../internal/advisory-lock-key';
import { KeyContext } from '../key-vault/key-context';
import type { Keyring } from '../key-vault/keyring';
import { SessionKeyVault } from '../key-vault/session-key-vault';
import type { VaultSession } from '../key-vault/vault-entry';
import type { EncryptedEntity } from './encrypted-entity-catalog';
import { KEY_ROTATION_MODULE_OPTIONS } from './key-rotation.module-definition';
import type {
  KeyRotationModuleOptions,
  RotationOutcome,
} from './key-rotation.options';
import { ReencryptionBatches } from './reencryption-batches';

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

export interface RotationReport {
  outcome: RotationOutcome;
  rows: number;
  values: number;
  /** Participants' items (files) re-encrypted. */
  files: number;
  /** The whole run, final check and grace wait included. */
  durationMs: number;
  /** Time spent re-encrypting (columns and items): what the rates are computed from. */
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
 * One run of an owner's key rotation: re-encrypts their data under the new key version and then
 * destroys the old one (docs/rotation.md#how-a-run-works). Resumable by construction: the work left
 * is exactly the ciphertexts whose envelope names another version than the new one (bytes 3–6 of
 * every envelope), found by query each batch, and the participants' items (a document file names its
 * version in its header); progress lives in the store's rotation row, which exists until the old
 * wrapped key is deleted — and that happens only in a transaction that first finds no ciphertext
 * left under it.
 *
 * One run per owner at a time across every instance: a PostgreSQL advisory lock held on the run's
 * own connection, released by the server if the process dies. When runs start: `KeyRotationJob`.
 */
@Injectable()
export class KeyRotationRunner implements OnModuleInit {
  // Named like the job: operators filter the run's lines on this context.
  private readonly logger = new Logger('KeyRotationJob');
  private batches?: ReencryptionBatches;
  private stopping = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly vault: SessionKeyVault,
    private readonly blindIndexes: BlindIndexes,
    @Inject(KEY_ROTATION_MODULE_OPTIONS)
    private readonly options: KeyRotationModuleOptions,
  ) {}

  /**
   * Finds every `@EncryptedColumn` entity (one without an owner column stops start-up here) and
   * builds its statements. The write guard that keeps new ciphertexts from landing under a
   * destroyed version is `EncryptedColumnsModule`'s, installed whether or not rotation is loaded.
   */
  onModuleInit(): void {
    this.batches = ReencryptionBatches.discover(
      this.dataSource,
      this.blindIndexes,
    );
    this.logger.log(
      { entities: this.batches.entities.map((entity) => entity.name) },
      'key rotation covers these encrypted entities',
    );
  }

  get encryptedEntities(): readonly EncryptedEntity[] {
    return this.batches?.entities ?? [];
  }

  /** Runs stop after their current batch or item; their rows stay for the next start. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Re-encrypts `ownerId`'s data unless another process holds the run. Takes ownership of
   * `keyring`, which must hold the rotation's old and new versions. When `session` is given, its
   * vault entry is re-stored without the destroyed key once the rotation completes.
   * @throws when the run fails (logged here); the rotation stays pending.
   */
  async execute(
    ownerId: string,
    keyring: Keyring,
    session: VaultSession | undefined,
  ): Promise<RotationReport> {
    const { store, observer } = this.options;
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
      observer?.runEnded(outcome);
      return summary(outcome);
    };
    const runner = this.dataSource.createQueryRunner();
    const lockKey = advisoryLockKey('key-rotation', ownerId);
    try {
      await runner.connect();
      const [{ locked }] = (await runner.query(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked',
        [lockKey],
      )) as { locked: boolean }[];
      if (!locked) return report('running-elsewhere');
      let running = false;
      try {
        const state = await store.pending(runner, ownerId, IN_FLIGHT_GRACE_MS);
        if (!state) return report('not-pending');
        const { fromVersion, toVersion } = state;
        const graceUntil = Date.now() + state.graceMs;
        // The rotation's two versions, the new one active (throws when the keyring lacks either).
        const work = keyring.copy({
          versions: [fromVersion, toVersion],
          activeVersion: toVersion,
        });
        observer?.runningChanged(1);
        running = true;
        this.logger.log(
          { userId: ownerId, fromVersion, toVersion },
          'key rotation running',
        );
        await KeyContext.runWithKeyring(work, async () => {
          for (let pass = 1; ; pass++) {
            const passStarted = performance.now();
            await this.reencryptColumns(runner, ownerId, toVersion, progress);
            await this.reencryptItems(ownerId, toVersion, work, progress);
            progress.reencryptMs += performance.now() - passStarted;
            const wait = graceUntil - Date.now();
            if (wait > 0)
              await new Promise((resolve) => setTimeout(resolve, wait));
            if (await this.destroyOldKeys(runner, ownerId, toVersion)) break;
            if (pass >= MAX_PASSES)
              throw new Error(
                'ciphertexts under the old key version keep appearing',
              );
          }
          if (session) await this.pruneSessionKeys(session, work);
        });
        const done = report('completed');
        this.logger.log(
          { userId: ownerId, toVersion, ...done, ...rates(done) },
          'key rotation completed: old key version destroyed',
        );
        return done;
      } finally {
        if (running) observer?.runningChanged(-1);
        await runner
          .query('SELECT pg_advisory_unlock($1::bigint)', [lockKey])
          .catch(() => undefined);
      }
    } catch (error) {
      if (error instanceof RotationStopped) {
        const stopped = report('stopped');
        this.logger.warn(
          { userId: ownerId, ...stopped },
          'key rotation paused by shutdown; the next login or request resumes it',
        );
        return stopped;
      }
      observer?.runEnded('failed');
      this.logger.error(
        {
          userId: ownerId,
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
    const live = await this.options.store.liveVersions(
      this.dataSource,
      session.userId,
    );
    if (!live) return;
    const existing = new Set(live.versions);
    const keep = keyring.versions.filter((version) => existing.has(version));
    if (keep.length === keyring.versions.length || !keep.includes(live.active))
      return;
    const pruned = keyring.copy({ versions: keep, activeVersion: live.active });
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
    ownerId: string,
    toVersion: number,
    progress: Progress,
  ): Promise<void> {
    const { store, observer } = this.options;
    const ended = await (this.batches as ReencryptionBatches).run(
      runner,
      ownerId,
      { kind: 'not-under-version', version: toVersion },
      {
        stopping: () => this.stopping,
        beforeCommit: (transaction, batch) =>
          store.addProgress(transaction, ownerId, batch),
        committed: (batch) => {
          progress.rows += batch.rows;
          progress.values += batch.values;
          observer?.valuesReencrypted(batch.values);
          this.logProgress(ownerId, progress, batch.entity.name);
        },
      },
    );
    if (ended === 'stopped') throw new RotationStopped();
  }

  private async reencryptItems(
    ownerId: string,
    toVersion: number,
    keyring: Keyring,
    progress: Progress,
  ): Promise<void> {
    const { store, observer, participants = [] } = this.options;
    for (const participant of participants)
      for (const id of await participant.pendingUnder(ownerId, toVersion)) {
        if (this.stopping) throw new RotationStopped();
        if (await participant.reencrypt(ownerId, id, keyring)) {
          progress.files++;
          observer?.itemsReencrypted(1, participant.name);
          await store.addItemProgress(this.dataSource, ownerId);
        }
      }
  }

  /**
   * In one transaction holding the owner's row: checks that no column value and no participant's
   * item is left under another version, then deletes the other versions' wrapped keys and the
   * rotation row.
   * @returns false when something under the old version appeared meanwhile (another pass runs).
   */
  private async destroyOldKeys(
    runner: QueryRunner,
    ownerId: string,
    toVersion: number,
  ): Promise<boolean> {
    const { store, participants = [] } = this.options;
    await runner.startTransaction();
    try {
      // Serialises with password changes and recovery (they re-wrap every version). Not FOR
      // UPDATE: a concurrent write's foreign-key check takes KEY SHARE on this row.
      if (await store.lockOwner(runner, ownerId)) {
        // Waits for every write that locked an old version's key FOR KEY SHARE (KeyVersionWriteGuard)
        // to commit, so the checks below see its rows; a write that comes later waits for this
        // transaction, finds the key gone and is rolled back.
        await store.lockRetiredKeys(runner, ownerId, toVersion);
        if (
          await (this.batches as ReencryptionBatches).anyLeft(runner, ownerId, {
            kind: 'not-under-version',
            version: toVersion,
          })
        ) {
          await runner.rollbackTransaction();
          return false;
        }
        for (const participant of participants)
          if (
            (await participant.pendingUnder(ownerId, toVersion, runner.manager))
              .length > 0
          ) {
            await runner.rollbackTransaction();
            return false;
          }
        await store.destroyRetiredKeys(runner, ownerId, toVersion);
      }
      await runner.commitTransaction();
      return true;
    } catch (error) {
      await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }

  private logProgress(
    ownerId: string,
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
      { userId: ownerId, entity, ...current, ...rates(current) },
      'key rotation progress',
    );
  }
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
