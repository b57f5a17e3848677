import type { DataSource, QueryRunner } from 'typeorm';
import type { BlindIndexes } from '../encrypted-column/blind-index';
import {
  discoverEncryptedEntities,
  type EncryptedEntity,
} from './encrypted-entity-catalog';
import {
  keyVersionBytes,
  type RotationSql,
  rotationSqlFor,
} from './rotation-sql';

/** Rows re-encrypted per transaction: small enough to keep locks short and memory flat. */
export const ROTATION_BATCH_ROWS = 500;

/**
 * Which ciphertexts a pass rewrites: those not under `version` (a key rotation), or the adopted
 * plaintext of adopting columns (plaintext adoption). See `rotation-sql.ts`.
 */
export type ReencryptionPredicate =
  { kind: 'not-under-version'; version: number } | { kind: 'plaintext' };

/** One batch of one entity's rows, rewritten in one transaction. */
export interface ReencryptionBatch {
  entity: EncryptedEntity;
  rows: number;
  /** Non-NULL values written (a row holds one per encrypted column at most). */
  values: number;
}

export interface ReencryptionHooks {
  /**
   * Runs in the batch's transaction once its rows are written (progress, or a lock on the key
   * version written under). A throw rolls the batch back and ends the run with that error.
   */
  beforeCommit(runner: QueryRunner, batch: ReencryptionBatch): Promise<void>;
  /** After the batch has committed (counters, progress logs). */
  committed?(batch: ReencryptionBatch): void;
  /** Asked before each batch: true ends the run, leaving the rest for a later one. */
  stopping(): boolean;
}

/** Where a key version fits in an envelope: 4 bytes, unsigned; version 0 is never written. */
const MAX_KEY_VERSION = 0xffff_ffff;

/**
 * The batched re-encryption of one owner's rows in every encrypted entity
 * (docs/rotation.md#how-a-run-works): each batch selects up to `batchRows` rows matching the
 * predicate `FOR UPDATE`, decrypts each value with whatever its envelope names, encrypts it under
 * the active version of the keyring in `KeyContext` (which the caller sets), recomputes the blind
 * indexes, and writes the batch back with one `UPDATE … FROM unnest(…)`. Resumable by construction:
 * the work left is the query's answer, so a kill loses at most the uncommitted batch.
 *
 * PostgreSQL only (bytea `substring`, `unnest`).
 */
export class ReencryptionBatches {
  private readonly sql: ReadonlyMap<EncryptedEntity, RotationSql>;

  constructor(
    readonly entities: readonly EncryptedEntity[],
    escape: (name: string) => string,
    private readonly blindIndexes: BlindIndexes,
    private readonly batchRows = ROTATION_BATCH_ROWS,
  ) {
    if (!Number.isInteger(batchRows) || batchRows < 1)
      throw new RangeError('batchRows must be a positive integer');
    this.sql = new Map(
      entities.map((entity) => [entity, rotationSqlFor(entity, escape)]),
    );
  }

  /**
   * Every `@EncryptedColumn` entity of `dataSource` (one without an owner column throws here),
   * with its statements. Call once the DataSource is initialised (`onModuleInit`).
   */
  static discover(
    dataSource: DataSource,
    blindIndexes: BlindIndexes,
    batchRows = ROTATION_BATCH_ROWS,
  ): ReencryptionBatches {
    const entities = discoverEncryptedEntities(
      dataSource.entityMetadatas,
      (column) => dataSource.driver.normalizeType(column),
    );
    return new ReencryptionBatches(
      entities,
      (name) => dataSource.driver.escape(name),
      blindIndexes,
      batchRows,
    );
  }

  /**
   * Rewrites `ownerId`'s rows that match `predicate`, entity by entity, one transaction per batch
   * on `runner` (connected, no transaction open). Needs the owner's keyring in `KeyContext`.
   * @returns 'stopped' when `hooks.stopping()` said so before a batch, 'done' when no row is left.
   */
  async run(
    runner: QueryRunner,
    ownerId: string,
    predicate: ReencryptionPredicate,
    hooks: ReencryptionHooks,
  ): Promise<'done' | 'stopped'> {
    const select = this.selectFor(predicate);
    for (const entity of this.entities) {
      const statement = select(this.sql.get(entity) as RotationSql);
      if (!statement) continue;
      for (;;) {
        if (hooks.stopping()) return 'stopped';
        await runner.startTransaction();
        let batch: ReencryptionBatch;
        try {
          const rows = (await runner.query(
            statement.sql,
            statement.parameters(ownerId),
          )) as Record<string, unknown>[];
          if (rows.length === 0) {
            await runner.commitTransaction();
            break;
          }
          const { parameters, values } = reencryptRows(
            entity,
            rows,
            this.blindIndexes,
          );
          await runner.query(
            (this.sql.get(entity) as RotationSql).update,
            parameters,
          );
          batch = { entity, rows: rows.length, values };
          await hooks.beforeCommit(runner, batch);
          await runner.commitTransaction();
        } catch (error) {
          await runner.rollbackTransaction().catch(() => undefined);
          throw error;
        }
        hooks.committed?.(batch);
      }
    }
    return 'done';
  }

  /**
   * Whether `ownerId` has a row left that matches `predicate`, asked entity by entity on
   * `queryable` (a runner inside a transaction sees that transaction's state).
   */
  async anyLeft(
    queryable: Pick<QueryRunner, 'query'>,
    ownerId: string,
    predicate: ReencryptionPredicate,
  ): Promise<boolean> {
    checkPredicate(predicate);
    for (const entity of this.entities) {
      const sql = this.sql.get(entity) as RotationSql;
      const [left] =
        predicate.kind === 'plaintext'
          ? sql.anyPlaintext
            ? ((await queryable.query(sql.anyPlaintext, [
                ownerId,
              ])) as unknown[])
            : []
          : ((await queryable.query(sql.anyStale, [
              ownerId,
              keyVersionBytes(predicate.version),
            ])) as unknown[]);
      if (left) return true;
    }
    return false;
  }

  /** Each entity's batch query for `predicate`, with its parameters for an owner. */
  private selectFor(
    predicate: ReencryptionPredicate,
  ): (
    sql: RotationSql,
  ) => { sql: string; parameters(ownerId: string): unknown[] } | undefined {
    checkPredicate(predicate);
    if (predicate.kind === 'plaintext')
      return (sql) =>
        sql.selectPlaintext === undefined
          ? undefined
          : {
              sql: sql.selectPlaintext,
              parameters: (ownerId) => [ownerId, this.batchRows],
            };
    const versionBytes = keyVersionBytes(predicate.version);
    return (sql) => ({
      sql: sql.selectStale,
      parameters: (ownerId) => [ownerId, versionBytes, this.batchRows],
    });
  }
}

function checkPredicate(predicate: ReencryptionPredicate): void {
  const { kind } = predicate as { kind: unknown };
  if (kind === 'plaintext') return;
  if (kind !== 'not-under-version')
    throw new TypeError(`unknown re-encryption predicate: ${String(kind)}`);
  const { version } = predicate as { version: unknown };
  if (
    typeof version !== 'number' ||
    !Number.isInteger(version) ||
    version < 1 ||
    version > MAX_KEY_VERSION
  )
    throw new RangeError(
      'a not-under-version predicate needs a key version from 1 to 2^32-1',
    );
}

/**
 * Decrypts each value with the version its envelope names (or reads its adopted plaintext) and
 * encrypts it under the active one, recomputing the blind indexes. @returns the `update`
 * statement's parameters (see `rotation-sql`).
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
    // Per-owner blind indexes are keyed by the DEK version: recomputed under the new one.
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
