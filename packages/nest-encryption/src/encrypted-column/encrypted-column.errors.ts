import { EncryptionError } from '../errors';

/**
 * A stored ciphertext failed authentication (altered, truncated, copied from another column or
 * another owner's row) or names a key version its owner no longer holds. Carries only where it
 * happened (table and column), never a value: it is logged and becomes a 500
 * `data_integrity_error`.
 */
export class DataIntegrityError extends EncryptionError {
  constructor(
    readonly table: string,
    readonly column: string,
    readonly reason: string,
  ) {
    super(
      'data_integrity_error',
      'Stored data failed its integrity check; the incident has been logged.',
    );
  }
}

/**
 * A rotation of this user's data key is under way (docs/design.md#key-rotation): one at a time,
 * and a write sealed under a key version the rotation retired meanwhile is refused (nothing was
 * saved; a retry encrypts under the new version).
 */
export class RotationInProgressError extends EncryptionError {
  constructor(
    detail = 'A key rotation of this account is still running; try again once it has finished.',
  ) {
    super('rotation_in_progress', detail);
  }
}

/**
 * A query compared an encrypted column with a value. With random nonces that can never match,
 * so it is refused loudly instead of returning nothing; use the column's blind index.
 */
export class EncryptedColumnQueryError extends Error {
  constructor(table: string, column: string) {
    super(
      `${table}.${column} is encrypted and cannot be used in a where condition; ` +
        'query its @BlindIndex column instead (see BlindIndexes.for()).',
    );
    this.name = 'EncryptedColumnQueryError';
  }
}

/**
 * An `@EncryptedColumn`'s transformer used on a DataSource whose encrypted columns were never
 * bound to options (no `EncryptedColumnsModule`, or no `installEncryptedColumns()` call).
 */
export class UnboundEncryptedColumnError extends Error {
  constructor(table: string, column: string) {
    super(
      `${table}.${column}: @EncryptedColumn is not bound to this DataSource's encryption options; ` +
        "import EncryptedColumnsModule.forRoot()/forRootAsync() beside the DataSource's TypeOrmModule, " +
        'or call installEncryptedColumns(dataSource, options) after initializing a DataSource built by hand',
    );
    this.name = 'UnboundEncryptedColumnError';
  }
}
