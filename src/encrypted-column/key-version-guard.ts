import type { EntityMetadata, EntitySubscriberInterface, InsertEvent, QueryRunner, TransactionCommitEvent, TransactionRollbackEvent, UpdateEvent } from 'typeorm';
import { DomainError } from '../common/problem/domain-error';
import { KeyContext } from '../key-vault/key-context';
import { EncryptedValueTransformer } from './encrypted-column';

/**
 * A write sealed values under a key version that a key rotation has destroyed meanwhile (the
 * request unlocked its keys before the rotation began). Nothing was written: the transaction is
 * rolled back, and a retry encrypts under the new version.
 */
export class RetiredKeyVersionError extends DomainError {
  constructor() {
    super('rotation_in_progress', "This account's data key was rotated while the request ran; nothing was saved. Try again.");
  }
}

/**
 * Makes a write of `@EncryptedColumn` values commit only while the key version that sealed them
 * still exists, so that no ciphertext ever lands under a destroyed key (SPEC §1).
 *
 * A transaction that wrote encrypted values runs `liveKeySql` ($1 owner id, $2 key version) just
 * before it commits; the query returns a row while that wrapped key exists and locks it
 * `FOR KEY SHARE` until the commit. The key-rotation job locks the old versions' rows `FOR
 * UPDATE` before its final check, so either the writer locked first (the job waits for its commit,
 * then finds and re-encrypts its rows) or the job did (the writer waits, finds the key gone, and
 * is rolled back with `RetiredKeyVersionError`). One query per transaction, not per row.
 *
 * A write outside a transaction (`repository.insert()`, a query builder without one) cannot hold
 * the lock: it is checked just before it runs. `save()` and `manager.transaction()` get the
 * guarantee.
 */
export class KeyVersionWriteGuard implements EntitySubscriberInterface {
  /** Per open transaction: the owner/version pairs it sealed values under, still to check. */
  private readonly pending = new WeakMap<QueryRunner, Map<string, { ownerId: string; version: number }>>();
  private readonly encryptedColumns = new WeakMap<EntityMetadata, Set<string>>();

  constructor(private readonly liveKeySql: string) {}

  /** Outside a transaction only: inside one, the commit check below covers the write. */
  async beforeInsert(event: InsertEvent<unknown>): Promise<void> {
    if (!event.queryRunner.isTransactionActive) await this.checkNow(event.queryRunner, event.metadata, event.entity, undefined);
  }

  async beforeUpdate(event: UpdateEvent<unknown>): Promise<void> {
    if (!event.queryRunner.isTransactionActive) await this.checkNow(event.queryRunner, event.metadata, event.entity, event.updatedColumns);
  }

  afterInsert(event: InsertEvent<unknown>): void {
    if (event.queryRunner.isTransactionActive) this.note(event.queryRunner, event.metadata, event.entity, undefined);
  }

  afterUpdate(event: UpdateEvent<unknown>): void {
    if (event.queryRunner.isTransactionActive) this.note(event.queryRunner, event.metadata, event.entity, event.updatedColumns);
  }

  async beforeTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    const pending = this.pending.get(event.queryRunner);
    if (!pending) return;
    // Checked now (a savepoint's release included): the lock then lasts until the outermost commit.
    this.pending.delete(event.queryRunner);
    for (const { ownerId, version } of pending.values()) await this.check(event.queryRunner, ownerId, version);
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    // A savepoint's rollback keeps what the enclosing transaction still has to check.
    if (!event.queryRunner.isTransactionActive) this.pending.delete(event.queryRunner);
  }

  private note(queryRunner: QueryRunner, metadata: EntityMetadata, entity: unknown, updatedColumns: UpdateEvent<unknown>['updatedColumns'] | undefined): void {
    const sealedUnder = this.sealedUnder(metadata, entity, updatedColumns);
    if (!sealedUnder) return;
    let pending = this.pending.get(queryRunner);
    if (!pending) this.pending.set(queryRunner, (pending = new Map()));
    pending.set(`${sealedUnder.version}:${sealedUnder.ownerId}`, sealedUnder);
  }

  private async checkNow(queryRunner: QueryRunner, metadata: EntityMetadata, entity: unknown, updatedColumns: UpdateEvent<unknown>['updatedColumns'] | undefined): Promise<void> {
    const sealedUnder = this.sealedUnder(metadata, entity, updatedColumns);
    if (sealedUnder) await this.check(queryRunner, sealedUnder.ownerId, sealedUnder.version);
  }

  private async check(queryRunner: QueryRunner, ownerId: string, version: number): Promise<void> {
    const rows: unknown[] = await queryRunner.query(this.liveKeySql, [ownerId, version]);
    if (rows.length === 0) throw new RetiredKeyVersionError();
  }

  /**
   * The current keyring's owner and active version when the write carries an encrypted value (the
   * transformer seals with exactly those); undefined for writes of plain columns only.
   */
  private sealedUnder(metadata: EntityMetadata, entity: unknown, updatedColumns: UpdateEvent<unknown>['updatedColumns'] | undefined): { ownerId: string; version: number } | undefined {
    const encrypted = this.encryptedColumnsOf(metadata);
    if (encrypted.size === 0) return undefined;
    const writes =
      updatedColumns && updatedColumns.length > 0
        ? updatedColumns.some((column) => encrypted.has(column.propertyName))
        : entity !== null && typeof entity === 'object' && [...encrypted].some((property) => (entity as Record<string, unknown>)[property] != null);
    if (!writes) return undefined;
    const keyring = KeyContext.current();
    // No keys: the transformer itself refuses to seal (KeyUnavailableError).
    return keyring ? { ownerId: keyring.userId, version: keyring.activeVersion } : undefined;
  }

  private encryptedColumnsOf(metadata: EntityMetadata): Set<string> {
    let properties = this.encryptedColumns.get(metadata);
    if (!properties) {
      properties = new Set(
        metadata.columns
          .filter((column) => [column.transformer].flat().some((transformer) => transformer instanceof EncryptedValueTransformer))
          .map((column) => column.propertyName),
      );
      this.encryptedColumns.set(metadata, properties);
    }
    return properties;
  }
}
