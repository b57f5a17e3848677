import { adoptedPlaintextPredicate } from '../encrypted-column/encrypted-value-codec';

/**
 * The statements a key rotation runs per encrypted entity (docs/design.md#key-rotation), built once
 * at start-up. Pure: identifiers go through the driver's `escape`, every value is a parameter.
 *
 * A ciphertext is stale when its envelope names another key version than the rotation's new one:
 * bytes 3–6 (1-based) of every envelope hold the version; NULL stays NULL and never matches.
 * A value is adopted plaintext when its first byte is `0x00`, the marker a column in plaintext
 * adoption stores before legacy values; an envelope's first byte is its format version, 1, so the
 * two never overlap. Only adopting columns are searched for it.
 */

/** What the statements need of an encrypted entity (an `EncryptedEntity` has all of it). */
export interface RotatedTable {
  /** `schema.table` or `table`, unquoted parts. */
  tablePath: readonly string[];
  primaryColumn: { databaseName: string; sqlType: string };
  /** The column holding the owner id. */
  ownerColumn: string;
  /** `adopting`: the column also holds adopted plaintext (`@EncryptedColumn({ adoptPlaintext })`). */
  encryptedColumns: readonly { databaseName: string; adopting?: boolean }[];
  /** Written back with the ciphertexts: owner-keyed indexes follow the DEK version. */
  blindIndexes: readonly { databaseName: string }[];
}

/** Quotes one identifier, as `DataSource.driver.escape` does. */
export type EscapeIdentifier = (name: string) => string;

export interface RotationSql {
  /** The rows of owner $1 holding a ciphertext not under version bytes $2, at most $3, locked. */
  selectStale: string;
  /** One row when owner $1 still has a ciphertext not under version bytes $2, none otherwise. */
  anyStale: string;
  /**
   * Rewrites a batch: $1 the primary keys, then one `bytea[]` per encrypted column and one per
   * blind index, in `RotatedTable` order.
   */
  update: string;
  /**
   * The rows of owner $1 with adopted plaintext in an adopting column, at most $2, locked; every
   * encrypted column selected as in `selectStale`. Undefined when no column adopts plaintext.
   */
  selectPlaintext: string | undefined;
  /** One row when owner $1 still has adopted plaintext; undefined like `selectPlaintext`. */
  anyPlaintext: string | undefined;
}

export function rotationSqlFor(
  table: RotatedTable,
  escape: EscapeIdentifier,
): RotationSql {
  const plaintext = plaintextSql(table, escape);
  return {
    selectStale: selectStaleSql(table, escape),
    anyStale: anyStaleSql(table, escape),
    update: updateSql(table, escape),
    selectPlaintext: plaintext?.select,
    anyPlaintext: plaintext?.any,
  };
}

/** Selects the primary key and every encrypted column, in `encryptedColumns` order. */
export function selectStaleSql(
  table: RotatedTable,
  escape: EscapeIdentifier,
): string {
  return `SELECT ${selectedColumns(table, escape)} FROM ${tableName(table, escape)} WHERE ${staleRowsOf(table, escape)} LIMIT $3 FOR UPDATE`;
}

export function anyStaleSql(
  table: RotatedTable,
  escape: EscapeIdentifier,
): string {
  return `SELECT 1 FROM ${tableName(table, escape)} WHERE ${staleRowsOf(table, escape)} LIMIT 1`;
}

/**
 * Like `selectStaleSql` and `anyStaleSql`, for rows with adopted plaintext in an adopting column:
 * `select` takes $1 the owner and $2 the limit, `any` the owner. Undefined when no column adopts.
 */
export function plaintextSql(
  table: RotatedTable,
  escape: EscapeIdentifier,
): { select: string; any: string } | undefined {
  const plaintext = plaintextRowsOf(table, escape);
  if (!plaintext) return undefined;
  const from = `FROM ${tableName(table, escape)} WHERE ${plaintext}`;
  return {
    select: `SELECT ${selectedColumns(table, escape)} ${from} LIMIT $2 FOR UPDATE`,
    any: `SELECT 1 ${from} LIMIT 1`,
  };
}

/** An `UPDATE … FROM unnest(…)` joined on the primary key: one statement per batch. */
export function updateSql(
  table: RotatedTable,
  escape: EscapeIdentifier,
): string {
  const written = writtenColumns(table);
  const primary = table.primaryColumn.databaseName;
  const arrays = [
    `$1::${table.primaryColumn.sqlType}[]`,
    ...written.map((_, i) => `$${i + 2}::bytea[]`),
  ].join(', ');
  const aliases = [primary, ...written].map(escape).join(', ');
  const assignments = written
    .map((name) => `${escape(name)} = v.${escape(name)}`)
    .join(', ');
  return (
    `UPDATE ${tableName(table, escape)} AS t SET ${assignments} ` +
    `FROM unnest(${arrays}) AS v(${aliases}) WHERE t.${escape(primary)} = v.${escape(primary)}`
  );
}

/** The 4 big-endian bytes every envelope of `version` carries at offset 2 (the `$2` above). */
export function keyVersionBytes(version: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(version, 0);
  return bytes;
}

/** The columns `update` writes, in parameter order. */
function writtenColumns(table: RotatedTable): string[] {
  return [
    ...table.encryptedColumns.map((column) => column.databaseName),
    ...table.blindIndexes.map((index) => index.databaseName),
  ];
}

function selectedColumns(
  table: RotatedTable,
  escape: EscapeIdentifier,
): string {
  return [
    table.primaryColumn.databaseName,
    ...table.encryptedColumns.map((column) => column.databaseName),
  ]
    .map(escape)
    .join(', ');
}

function tableName(table: RotatedTable, escape: EscapeIdentifier): string {
  return table.tablePath.map(escape).join('.');
}

function staleRowsOf(table: RotatedTable, escape: EscapeIdentifier): string {
  const stale = table.encryptedColumns
    .map(
      (column) =>
        `substring(${escape(column.databaseName)} from 3 for 4) <> $2`,
    )
    .join(' OR ');
  return `${escape(table.ownerColumn)} = $1 AND (${stale})`;
}

function plaintextRowsOf(
  table: RotatedTable,
  escape: EscapeIdentifier,
): string | undefined {
  const adopting = table.encryptedColumns.filter((column) => column.adopting);
  if (adopting.length === 0) return undefined;
  const plaintext = adopting
    .map((column) => adoptedPlaintextPredicate(escape(column.databaseName)))
    .join(' OR ');
  return `${escape(table.ownerColumn)} = $1 AND (${plaintext})`;
}
