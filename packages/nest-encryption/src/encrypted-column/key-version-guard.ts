import type {
  EntityMetadata,
  EntitySubscriberInterface,
  InsertEvent,
  QueryRunner,
  TransactionCommitEvent,
  TransactionRollbackEvent,
  TransactionStartEvent,
  UpdateEvent,
} from 'typeorm';
import { KeyContext } from '../key-vault/key-context';
import { EncryptedValueTransformer } from './encrypted-column';
import { RotationInProgressError } from './encrypted-column.errors';
import { transactionDepth } from './typeorm-adapter';

type ColumnMetadata = EntityMetadata['columns'][number];

/**
 * An `@EncryptedColumn` value written outside a transaction: the key-version check below needs
 * one to hold its lock until the commit. A programming error (500), never a client's.
 */
export class EncryptedWriteOutsideTransactionError extends Error {
  constructor(entity: string) {
    super(
      `${entity}: @EncryptedColumn values must be written inside a transaction (save(), or ` +
        'insert()/update()/a query builder within manager.transaction()), so that a key rotation cannot destroy their key before they commit',
    );
    this.name = 'EncryptedWriteOutsideTransactionError';
  }
}

/**
 * Makes a write of `@EncryptedColumn` values commit only while the key version that sealed them
 * still exists, so that no ciphertext ever lands under a destroyed key
 * (docs/design.md#key-rotation).
 *
 * A transaction that writes encrypted values runs `liveKeySql` ($1 owner id, $2 key version) just
 * before its outermost COMMIT; the query returns a row while that wrapped key exists and locks it
 * `FOR KEY SHARE` until the commit. The key-rotation job locks the old versions' rows `FOR UPDATE`
 * before its final check, so either the writer locked first (the job waits for its commit, then
 * finds and re-encrypts its rows) or the job did (the writer waits, finds the key gone, and is
 * rolled back with `RotationInProgressError`). One query per transaction, not per row.
 *
 * What a write seals under is noted before it runs (the keyring is live then, or sealing fails),
 * not after: a request whose client disconnects has its keyring zeroed mid-write. An encrypted
 * write outside a transaction cannot hold the lock and is refused
 * (`EncryptedWriteOutsideTransactionError`). Writes with `listeners: false` bypass every
 * subscriber, this one included: do not use it for encrypted entities.
 *
 * Registered on a DataSource by `installEncryptedColumns()` (so by `EncryptedColumnsModule`),
 * whichever other modules the app loads.
 */
export class KeyVersionWriteGuard implements EntitySubscriberInterface {
  /** Per open transaction: the owner/version pairs it sealed values under, checked at its commit. */
  private readonly pending = new WeakMap<
    QueryRunner,
    Map<string, { ownerId: string; version: number }>
  >();
  private readonly encryptedColumns = new WeakMap<
    EntityMetadata,
    ColumnMetadata[]
  >();

  constructor(private readonly liveKeySql: string) {}

  beforeInsert(event: InsertEvent<unknown>): void {
    this.note(event.queryRunner, event.metadata, event.entity, undefined);
  }

  beforeUpdate(event: UpdateEvent<unknown>): void {
    this.note(
      event.queryRunner,
      event.metadata,
      event.entity,
      event.updatedColumns,
    );
  }

  beforeTransactionStart(event: TransactionStartEvent): void {
    // A runner reused after a failed ROLLBACK (no rollback event) starts its next transaction clean.
    if (transactionDepth(event.queryRunner) === 0)
      this.pending.delete(event.queryRunner);
  }

  async beforeTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    // A savepoint's release is not the end: the check (and its lock) belongs to the outermost
    // commit, or a caller catching a savepoint's failure would let the transaction commit unchecked.
    if (transactionDepth(event.queryRunner) > 1) return;
    const pending = this.pending.get(event.queryRunner);
    if (!pending) return;
    for (const { ownerId, version } of pending.values())
      await this.check(event.queryRunner, ownerId, version);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    if (!event.queryRunner.isTransactionActive)
      this.pending.delete(event.queryRunner);
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    // A savepoint's rollback keeps what the enclosing transaction still has to check.
    if (!event.queryRunner.isTransactionActive)
      this.pending.delete(event.queryRunner);
  }

  private note(
    queryRunner: QueryRunner,
    metadata: EntityMetadata,
    entity: unknown,
    updatedColumns: ColumnMetadata[] | undefined,
  ): void {
    if (!this.writesEncryptedValue(metadata, entity, updatedColumns)) return;
    const keyring = KeyContext.current();
    // No keys: the transformer itself refuses to seal (KeyUnavailableError).
    if (!keyring) return;
    if (!queryRunner.isTransactionActive)
      throw new EncryptedWriteOutsideTransactionError(metadata.name);
    let pending = this.pending.get(queryRunner);
    if (!pending)
      this.pending.set(
        queryRunner,
        (pending = new Map<string, { ownerId: string; version: number }>()),
      );
    pending.set(`${keyring.activeVersion}:${keyring.userId}`, {
      ownerId: keyring.userId,
      version: keyring.activeVersion,
    });
  }

  private async check(
    queryRunner: QueryRunner,
    ownerId: string,
    version: number,
  ): Promise<void> {
    const rows = (await queryRunner.query(this.liveKeySql, [
      ownerId,
      version,
    ])) as unknown[];
    // The request unlocked its keys before the rotation began: nothing is written, the
    // transaction rolls back, and a retry encrypts under the new version.
    if (rows.length === 0)
      throw new RotationInProgressError(
        "This account's data key was rotated while the request ran; nothing was saved. Try again.",
      );
  }

  /** Whether the write carries a non-null value for an encrypted column (what the transformer seals). */
  private writesEncryptedValue(
    metadata: EntityMetadata,
    entity: unknown,
    updatedColumns: ColumnMetadata[] | undefined,
  ): boolean {
    const encrypted = this.encryptedColumnsOf(metadata);
    if (encrypted.length === 0) return false;
    if (updatedColumns && updatedColumns.length > 0)
      return updatedColumns.some((column) => encrypted.includes(column));
    if (entity === null || typeof entity !== 'object') return false;
    return encrypted.some((column) => column.getEntityValue(entity) != null);
  }

  private encryptedColumnsOf(metadata: EntityMetadata): ColumnMetadata[] {
    let columns = this.encryptedColumns.get(metadata);
    if (!columns) {
      columns = metadata.columns.filter((column) =>
        [column.transformer]
          .flat()
          .some(
            (transformer) => transformer instanceof EncryptedValueTransformer,
          ),
      );
      this.encryptedColumns.set(metadata, columns);
    }
    return columns;
  }
}
