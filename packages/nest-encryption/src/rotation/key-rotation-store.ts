/**
 * Where a key rotation's state lives (docs/rotation.md#the-store): the owner's row, their wrapped
 * data keys by version, and the rotation row with its progress. The library owns no tables; the
 * app's schema answers through this interface. Every method runs on the `queryable` it is given,
 * so the runner decides the connection and the transaction.
 */
export interface KeyRotationStore {
  /**
   * The owner's pending rotation, or undefined. `graceMs` is what is left of `inFlightGraceMs`
   * since the rotation started (0 once it has passed), by the database's clock.
   */
  pending(
    queryable: Queryable,
    ownerId: string,
    inFlightGraceMs: number,
  ): Promise<PendingRotation | undefined>;
  /** Whether the owner has a pending rotation. */
  isPending(queryable: Queryable, ownerId: string): Promise<boolean>;
  /** Adds a committed batch of column values to the rotation's progress (in the batch's transaction). */
  addProgress(
    queryable: Queryable,
    ownerId: string,
    progress: { rows: number; values: number },
  ): Promise<void>;
  /** Adds one re-encrypted item of a participant (a file) to the rotation's progress. */
  addItemProgress(queryable: Queryable, ownerId: string): Promise<void>;
  /**
   * Locks the owner's row against password changes and recovery (they re-wrap every version) for
   * the transaction, without blocking foreign-key checks of writes. @returns false when the owner
   * is gone.
   */
  lockOwner(queryable: Queryable, ownerId: string): Promise<boolean>;
  /**
   * Locks `FOR UPDATE` every wrapped key of the owner but `toVersion`'s: waits for the writes
   * that hold one `FOR KEY SHARE` (the columns' `liveKeySql`) to commit, and makes later ones wait.
   */
  lockRetiredKeys(
    queryable: Queryable,
    ownerId: string,
    toVersion: number,
  ): Promise<void>;
  /** Deletes every wrapped key of the owner but `toVersion`'s, and the rotation row. */
  destroyRetiredKeys(
    queryable: Queryable,
    ownerId: string,
    toVersion: number,
  ): Promise<void>;
  /** The versions whose wrapped keys exist and the active one; undefined when the owner has none. */
  liveVersions(
    queryable: Queryable,
    ownerId: string,
  ): Promise<{ versions: number[]; active: number } | undefined>;
  /**
   * The statement `EncryptedColumnsModule` runs before a write (its `liveKeySql`): one row while
   * owner $1's key version $2 exists, locked `FOR KEY SHARE`.
   */
  liveKeySql(): string;
}

/** What the store needs of a connection: a `QueryRunner`, an `EntityManager` or a `DataSource`. */
export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

export interface PendingRotation {
  fromVersion: number;
  toVersion: number;
  /** Milliseconds of the in-flight grace left: the old key is destroyed no sooner. */
  graceMs: number;
}

/**
 * The names `SqlKeyRotationStore` uses: plain SQL identifiers (letters, digits, `_`; a table may be
 * `schema.table`), inserted unquoted, so lower-case names as PostgreSQL folds them.
 */
export interface KeyRotationTables {
  owners: { table: string; id: string; activeKeyVersion: string };
  dataKeys: { table: string; ownerId: string; keyVersion: string };
  rotations: {
    table: string;
    ownerId: string;
    fromVersion: string;
    toVersion: string;
    startedAt: string;
    updatedAt: string;
    rowsReencrypted: string;
    valuesReencrypted: string;
    /** Participants' items (files) re-encrypted. */
    itemsReencrypted: string;
  };
}

export const DEFAULT_KEY_ROTATION_TABLES: KeyRotationTables = {
  owners: { table: 'users', id: 'id', activeKeyVersion: 'active_key_version' },
  dataKeys: {
    table: 'user_data_keys',
    ownerId: 'user_id',
    keyVersion: 'key_version',
  },
  rotations: {
    table: 'key_rotations',
    ownerId: 'user_id',
    fromVersion: 'from_version',
    toVersion: 'to_version',
    startedAt: 'started_at',
    updatedAt: 'updated_at',
    rowsReencrypted: 'rows_reencrypted',
    valuesReencrypted: 'values_reencrypted',
    itemsReencrypted: 'files_reencrypted',
  },
};

export type KeyRotationTablesOverrides = {
  [Part in keyof KeyRotationTables]?: Partial<KeyRotationTables[Part]>;
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `KeyRotationStore` in plain SQL over three tables, by default the ones of `vault-pii`'s schema:
 * `users(id, active_key_version)`, `user_data_keys(user_id, key_version)` and
 * `key_rotations(user_id, from_version, to_version, started_at, updated_at, rows_reencrypted,
 * values_reencrypted, files_reencrypted)`. Other names go in `tables`.
 */
export class SqlKeyRotationStore implements KeyRotationStore {
  readonly tables: KeyRotationTables;
  private readonly statements: ReturnType<typeof statementsFor>;

  /** @throws TypeError when a name is not a plain SQL identifier. */
  constructor(tables: KeyRotationTablesOverrides = {}) {
    this.tables = {
      owners: { ...DEFAULT_KEY_ROTATION_TABLES.owners, ...tables.owners },
      dataKeys: { ...DEFAULT_KEY_ROTATION_TABLES.dataKeys, ...tables.dataKeys },
      rotations: {
        ...DEFAULT_KEY_ROTATION_TABLES.rotations,
        ...tables.rotations,
      },
    };
    for (const [part, names] of Object.entries(this.tables))
      for (const [role, name] of Object.entries(
        names as Record<string, unknown>,
      ))
        if (
          typeof name !== 'string' ||
          !(role === 'table' ? TABLE : IDENTIFIER).test(name)
        )
          throw new TypeError(
            `SqlKeyRotationStore: ${part}.${role} must be a plain SQL identifier`,
          );
    this.statements = statementsFor(this.tables);
  }

  async pending(
    queryable: Queryable,
    ownerId: string,
    inFlightGraceMs: number,
  ): Promise<PendingRotation | undefined> {
    const { rotations } = this.tables;
    const [state] = (await queryable.query(this.statements.pending, [
      ownerId,
      inFlightGraceMs,
    ])) as (Record<string, number> | undefined)[];
    return (
      state && {
        fromVersion: state[rotations.fromVersion],
        toVersion: state[rotations.toVersion],
        graceMs: Number(state.grace_ms),
      }
    );
  }

  async isPending(queryable: Queryable, ownerId: string): Promise<boolean> {
    const [pending] = (await queryable.query(this.statements.isPending, [
      ownerId,
    ])) as unknown[];
    return pending !== undefined;
  }

  async addProgress(
    queryable: Queryable,
    ownerId: string,
    { rows, values }: { rows: number; values: number },
  ): Promise<void> {
    await queryable.query(this.statements.addProgress, [ownerId, rows, values]);
  }

  async addItemProgress(queryable: Queryable, ownerId: string): Promise<void> {
    await queryable.query(this.statements.addItemProgress, [ownerId]);
  }

  async lockOwner(queryable: Queryable, ownerId: string): Promise<boolean> {
    const [owner] = (await queryable.query(this.statements.lockOwner, [
      ownerId,
    ])) as unknown[];
    return owner !== undefined;
  }

  async lockRetiredKeys(
    queryable: Queryable,
    ownerId: string,
    toVersion: number,
  ): Promise<void> {
    await queryable.query(this.statements.lockRetiredKeys, [
      ownerId,
      toVersion,
    ]);
  }

  async destroyRetiredKeys(
    queryable: Queryable,
    ownerId: string,
    toVersion: number,
  ): Promise<void> {
    await queryable.query(this.statements.destroyRetiredKeys, [
      ownerId,
      toVersion,
    ]);
    await queryable.query(this.statements.deleteRotation, [ownerId]);
  }

  async liveVersions(
    queryable: Queryable,
    ownerId: string,
  ): Promise<{ versions: number[]; active: number } | undefined> {
    const { dataKeys, owners } = this.tables;
    const stored = (await queryable.query(this.statements.liveVersions, [
      ownerId,
    ])) as Record<string, number>[];
    if (stored.length === 0) return undefined;
    return {
      versions: stored.map((row) => row[dataKeys.keyVersion]),
      active: stored[0][owners.activeKeyVersion],
    };
  }

  liveKeySql(): string {
    return this.statements.liveKey;
  }
}

/** The statements, built once; with the default names, the app's strings before the extraction. */
function statementsFor({ owners, dataKeys, rotations }: KeyRotationTables) {
  return {
    pending: `SELECT ${rotations.fromVersion}, ${rotations.toVersion},
                  GREATEST(0, $2::float8 - EXTRACT(EPOCH FROM clock_timestamp() - ${rotations.startedAt}) * 1000)::int AS grace_ms
             FROM ${rotations.table} WHERE ${rotations.ownerId} = $1`,
    isPending: `SELECT 1 FROM ${rotations.table} WHERE ${rotations.ownerId} = $1`,
    addProgress: `UPDATE ${rotations.table} SET ${rotations.rowsReencrypted} = ${rotations.rowsReencrypted} + $2, ${rotations.valuesReencrypted} = ${rotations.valuesReencrypted} + $3,
                    ${rotations.updatedAt} = now() WHERE ${rotations.ownerId} = $1`,
    addItemProgress: `UPDATE ${rotations.table} SET ${rotations.itemsReencrypted} = ${rotations.itemsReencrypted} + 1, ${rotations.updatedAt} = now() WHERE ${rotations.ownerId} = $1`,
    lockOwner: `SELECT ${owners.id} FROM ${owners.table} WHERE ${owners.id} = $1 FOR NO KEY UPDATE`,
    lockRetiredKeys: `SELECT ${dataKeys.keyVersion} FROM ${dataKeys.table} WHERE ${dataKeys.ownerId} = $1 AND ${dataKeys.keyVersion} <> $2 FOR UPDATE`,
    destroyRetiredKeys: `DELETE FROM ${dataKeys.table} WHERE ${dataKeys.ownerId} = $1 AND ${dataKeys.keyVersion} <> $2`,
    deleteRotation: `DELETE FROM ${rotations.table} WHERE ${rotations.ownerId} = $1`,
    liveVersions: `SELECT k.${dataKeys.keyVersion}, u.${owners.activeKeyVersion} FROM ${dataKeys.table} k JOIN ${owners.table} u ON u.${owners.id} = k.${dataKeys.ownerId} WHERE k.${dataKeys.ownerId} = $1`,
    liveKey: `SELECT 1 FROM ${dataKeys.table} WHERE ${dataKeys.ownerId} = $1 AND ${dataKeys.keyVersion} = $2 FOR KEY SHARE`,
  };
}
