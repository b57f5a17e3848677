import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnModuleInit,
} from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { DataSource, QueryRunner } from 'typeorm';
import { BlindIndexes } from '../encrypted-column/blind-index';
import { notePlaintextAdoptionPass } from '../encrypted-column/install-encrypted-columns';
import { advisoryLockKey } from '../internal/advisory-lock-key';
import { KeyContext } from '../key-vault/key-context';
import type { Keyring } from '../key-vault/keyring';
import {
  type KeyringUnlocked,
  SessionKeyVault,
} from '../key-vault/session-key-vault';
import {
  discoverEncryptedEntities,
  type EncryptedEntity,
} from '../rotation/encrypted-entity-catalog';
import {
  type ReencryptionBatch,
  ReencryptionBatches,
} from '../rotation/reencryption-batches';
import { PLAINTEXT_ADOPTION_MODULE_OPTIONS } from './plaintext-adoption.module-definition';
import {
  type PlaintextAdoptionModuleOptions,
  type PlaintextAdoptionOutcome,
  type ResolvedPlaintextAdoptionOptions,
  resolvePlaintextAdoptionOptions,
} from './plaintext-adoption.options';
import { UnlockThrottle } from './unlock-throttle';

/** The namespace of the per-owner advisory lock (`advisoryLockKey`): one pass per owner anywhere. */
export const PLAINTEXT_ADOPTION_LOCK_NAMESPACE = 'plaintext-adoption';
const PROGRESS_LOG_INTERVAL_MS = 2_000;
const PLAINTEXT = { kind: 'plaintext' } as const;

/** What one owner's pass did: counts only, never a value. */
export interface PlaintextAdoptionReport {
  outcome: PlaintextAdoptionOutcome;
  /** Rows re-sealed by committed batches. */
  rows: number;
  /** Non-NULL values those rows' encrypted columns were written with. */
  values: number;
  durationMs: number;
}

/** A rotation retired the version the batch sealed under: it rolls back, the next login resumes. */
class KeyVersionRetired extends Error {}

/**
 * The background pass of plaintext adoption (docs/plaintext-adoption.md#the-background-pass): when
 * an owner's keyring is unlocked, re-seals that owner's legacy plaintext values in every adopting
 * column, batch by batch, with the rotation engine's `ReencryptionBatches` (rows locked, values
 * read through the columns' transformers and written back sealed under the active key version,
 * owner-keyed blind indexes filled).
 *
 * - One pass per owner across every instance: an advisory lock in its own namespace, held on the
 *   pass's own connection and released by the server if the process dies. In this process, an
 *   unlock while the owner's pass runs starts nothing.
 * - Each batch runs `liveKeySql` for the version it sealed under before it commits, so a key
 *   rotation destroying that version serialises with it (the `KeyVersionWriteGuard` rule, which
 *   the pass's raw SQL does not go through): no batch commits under a destroyed key.
 * - Resumable by construction: the work left is the query's answer; a kill loses at most the
 *   uncommitted batch. It stops after the current batch at shutdown.
 */
@Injectable()
export class PlaintextAdoptionJob
  implements OnModuleInit, BeforeApplicationShutdown
{
  private readonly logger = new Logger(PlaintextAdoptionJob.name);
  private readonly options: ResolvedPlaintextAdoptionOptions;
  private readonly running = new Map<
    string,
    Promise<PlaintextAdoptionReport>
  >();
  private readonly throttle: UnlockThrottle;
  /** One batch runner per adopting entity, so each gets its own "anything left?" check. */
  private adopting?: {
    entity: EncryptedEntity;
    batches: ReencryptionBatches;
  }[];
  private stopping = false;
  private unsubscribe?: () => void;

  constructor(
    private readonly dataSource: DataSource,
    private readonly vault: SessionKeyVault,
    private readonly blindIndexes: BlindIndexes,
    @Inject(PLAINTEXT_ADOPTION_MODULE_OPTIONS)
    options: PlaintextAdoptionModuleOptions,
  ) {
    this.options = resolvePlaintextAdoptionOptions(options);
    this.throttle = new UnlockThrottle(this.options.unlockRecheckMs);
  }

  /**
   * Finds the entities with adopting columns (an encrypted entity without an owner column stops
   * start-up here, as for key rotation) and subscribes to the vault's unlocked keyrings.
   */
  onModuleInit(): void {
    const escape = (name: string) => this.dataSource.driver.escape(name);
    this.adopting = discoverEncryptedEntities(
      this.dataSource.entityMetadatas,
      (column) => this.dataSource.driver.normalizeType(column),
    )
      .filter((entity) =>
        entity.encryptedColumns.some((column) => column.adopting),
      )
      .map((entity) => ({
        entity,
        batches: new ReencryptionBatches(
          [entity],
          escape,
          this.blindIndexes,
          this.options.batchRows,
        ),
      }));
    notePlaintextAdoptionPass(this.dataSource);
    if (this.adopting.length === 0) {
      this.logger.log(
        'no column adopts plaintext: the plaintext adoption pass has nothing to do',
      );
      return;
    }
    this.logger.log(
      { entities: this.adopting.map(({ entity }) => entity.name) },
      'plaintext adoption pass covers these entities, owner by owner at login',
    );
    this.unsubscribe = this.vault.onKeyringUnlocked((event) =>
      this.keyringUnlocked(event),
    );
  }

  /** Lets the current batches commit, then ends every pass; their rows wait for the next login. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    await Promise.allSettled([...this.running.values()]);
  }

  /** Entities with adopting columns (empty before start-up). */
  get adoptingEntities(): readonly EncryptedEntity[] {
    return (this.adopting ?? []).map(({ entity }) => entity);
  }

  /** Whether this process runs `ownerId`'s pass now. */
  isRunning(ownerId: string): boolean {
    return this.running.has(ownerId);
  }

  /**
   * Whether `ownerId` has no legacy plaintext left in any adopting column, so that owner-keyed
   * blind-index searches see all their rows. One `LIMIT 1` query per adopting entity.
   */
  async isComplete(ownerId: string): Promise<boolean> {
    assertOwnerId(ownerId);
    for (const { batches } of this.adoptingOrThrow())
      if (
        await batches.anyLeft(
          {
            query: (sql, parameters) => this.dataSource.query(sql, parameters),
          },
          ownerId,
          PLAINTEXT,
        )
      )
        return false;
    return true;
  }

  /**
   * Runs (or joins the run of) `ownerId`'s pass. Takes ownership of `keyring` (the owner's, its
   * active version is sealed under) and zeroes it when done. Logins start it by themselves; call it
   * only to adopt an owner whose keyring you hold otherwise.
   * Rejects when the pass fails (logged here; the rows left wait for a later pass), or at once
   * for an empty owner id or another owner's keyring.
   */
  adopt(ownerId: string, keyring: Keyring): Promise<PlaintextAdoptionReport> {
    const refused = this.refusalOf(ownerId, keyring);
    if (refused) {
      keyring.zero();
      return Promise.reject(refused);
    }
    const existing = this.running.get(ownerId);
    if (existing) {
      keyring.zero();
      return existing;
    }
    const run = this.execute(ownerId, keyring).finally(() =>
      this.running.delete(ownerId),
    );
    this.running.set(ownerId, run);
    return run;
  }

  /** Why `adopt` refuses its arguments, or undefined. */
  private refusalOf(ownerId: string, keyring: Keyring): Error | undefined {
    try {
      assertOwnerId(ownerId);
      this.adoptingOrThrow();
    } catch (error) {
      return error as Error;
    }
    if (keyring.userId !== ownerId)
      return new Error('PlaintextAdoptionJob: the keyring is not the owner’s');
    return undefined;
  }

  /** Never throws or waits: copies the keyring at once (the listener contract) and starts a pass. */
  private keyringUnlocked({ occasion, keyring }: KeyringUnlocked): void {
    const ownerId = keyring.userId;
    if (this.stopping || this.running.has(ownerId)) return;
    if (!this.throttle.allows(ownerId, occasion, Date.now())) return;
    // Only the active version: the one the pass seals under (legacy values need no key to read).
    const copy = keyring.copy({ versions: [keyring.activeVersion] });
    // execute() logs and counts its own failures.
    void this.adopt(ownerId, copy).catch(() => undefined);
  }

  private async execute(
    ownerId: string,
    keyring: Keyring,
  ): Promise<PlaintextAdoptionReport> {
    const { observer } = this.options;
    const started = performance.now();
    const counts = { rows: 0, values: 0, lastLogMs: started };
    const report = (
      outcome: PlaintextAdoptionOutcome,
    ): PlaintextAdoptionReport => ({
      outcome,
      rows: counts.rows,
      values: counts.values,
      durationMs: Math.round(performance.now() - started),
    });
    const runner = this.dataSource.createQueryRunner();
    const lockKey = advisoryLockKey(PLAINTEXT_ADOPTION_LOCK_NAMESPACE, ownerId);
    try {
      if (this.stopping) return this.ended(ownerId, report('stopped'));
      await runner.connect();
      const [{ locked }] = (await runner.query(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked',
        [lockKey],
      )) as { locked: boolean }[];
      if (!locked) return this.ended(ownerId, report('running-elsewhere'));
      try {
        const version = keyring.activeVersion;
        const outcome = await KeyContext.runWithKeyring(keyring, () =>
          this.adoptEntities(runner, ownerId, version, (batch) => {
            counts.rows += batch.rows;
            counts.values += batch.values;
            observer?.rowsAdopted(batch.rows, batch.values);
            const now = performance.now();
            if (now - counts.lastLogMs < PROGRESS_LOG_INTERVAL_MS) return;
            counts.lastLogMs = now;
            this.logger.log(
              {
                userId: ownerId,
                entity: batch.entity.name,
                rows: counts.rows,
                values: counts.values,
              },
              'plaintext adoption progress',
            );
          }),
        );
        return this.ended(ownerId, report(outcome));
      } finally {
        await runner
          .query('SELECT pg_advisory_unlock($1::bigint)', [lockKey])
          .catch(() => undefined);
      }
    } catch (error) {
      observer?.runEnded('failed');
      this.logger.error(
        {
          userId: ownerId,
          err: { type: (error as Error)?.name },
          rows: counts.rows,
          values: counts.values,
        },
        'plaintext adoption pass failed; the rows left wait for a later login',
      );
      throw error;
    } finally {
      keyring.zero();
      await runner.release().catch(() => undefined);
    }
  }

  /**
   * Entity by entity: a `LIMIT 1` check, then batches until none is left. Each batch, before it
   * commits, holds the sealing version's wrapped key `FOR KEY SHARE` (`liveKeySql`).
   */
  private async adoptEntities(
    runner: QueryRunner,
    ownerId: string,
    version: number,
    committed: (batch: ReencryptionBatch) => void,
  ): Promise<PlaintextAdoptionOutcome> {
    let adoptedAny = false;
    try {
      for (const { batches } of this.adoptingOrThrow()) {
        if (this.stopping) return 'stopped';
        if (!(await batches.anyLeft(runner, ownerId, PLAINTEXT))) continue;
        adoptedAny = true;
        const ended = await batches.run(runner, ownerId, PLAINTEXT, {
          stopping: () => this.stopping,
          beforeCommit: async (transaction) => {
            const live = (await transaction.query(this.options.liveKeySql, [
              ownerId,
              version,
            ])) as unknown[];
            if (live.length === 0) throw new KeyVersionRetired();
          },
          committed,
        });
        if (ended === 'stopped') return 'stopped';
      }
    } catch (error) {
      if (error instanceof KeyVersionRetired) return 'key-retired';
      throw error;
    }
    return adoptedAny ? 'completed' : 'nothing-to-adopt';
  }

  /** Counts the outcome and logs a pass that did something, or did not run (counts only). */
  private ended(
    ownerId: string,
    report: PlaintextAdoptionReport,
  ): PlaintextAdoptionReport {
    this.options.observer?.runEnded(report.outcome);
    if (report.outcome === 'completed')
      this.logger.log(
        { userId: ownerId, ...report },
        'plaintext adoption completed for this owner',
      );
    else if (report.outcome === 'stopped' || report.outcome === 'key-retired')
      this.logger.warn(
        { userId: ownerId, ...report },
        report.outcome === 'stopped'
          ? 'plaintext adoption paused by shutdown; the next login resumes it'
          : 'plaintext adoption paused: a key rotation retired the key version; the next login resumes it',
      );
    return report;
  }

  private adoptingOrThrow(): NonNullable<PlaintextAdoptionJob['adopting']> {
    if (!this.adopting)
      throw new Error(
        'PlaintextAdoptionJob: not started yet (its entities are found at module init)',
      );
    return this.adopting;
  }
}

function assertOwnerId(ownerId: unknown): asserts ownerId is string {
  if (typeof ownerId !== 'string' || ownerId.length === 0)
    throw new TypeError(
      'PlaintextAdoptionJob: ownerId must be a non-empty string',
    );
}
