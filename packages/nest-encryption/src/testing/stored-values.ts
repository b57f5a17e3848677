import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';
import {
  EnvelopeHeader,
  HEADER_BYTES,
  readEnvelopeHeader,
  TAG_BYTES,
} from '../crypto';
import { EncryptedValueTransformer } from '../encrypted-column/encrypted-column';

/** A row as the database holds it: every column by its database name, bytea as Buffer. */
export type StoredRow = Record<string, unknown>;

/** A plaintext a test wrote, to be searched for in the stored row (never printed). */
export type Plaintext = string | Buffer;

export interface StoredAsCiphertextOptions {
  /** Encrypted columns to check, by property name. Default: every `@EncryptedColumn` of the entity. */
  columns?: readonly string[];
  /** The data-key version every checked value must be sealed under. Default: any. */
  keyVersion?: number;
  /** Values the test wrote: none may appear in any column of the row, as UTF-8 or as hex. */
  plaintexts?: readonly Plaintext[];
}

export interface StoredAsPlaintextOptions {
  /** Encrypted columns to check, by property name. Default: every `@EncryptedColumn` of the entity. */
  columns?: readonly string[];
  /** Values each of which must appear in one of the checked columns, as UTF-8. */
  plaintexts?: readonly Plaintext[];
}

/**
 * A stored row is not what a test expected. Its message names the table, the columns and what is
 * wrong with each, and never a stored value or a plaintext (a plaintext is named by its index).
 */
export class StoredValueAssertionError extends Error {
  override readonly name = 'StoredValueAssertionError';
  constructor(
    readonly table: string,
    readonly problems: readonly string[],
  ) {
    super(`${table}: ${problems.join('; ')}`);
  }
}

/** One encrypted column of an entity: its names in the code and in the table. */
export interface EncryptedColumnNames {
  propertyName: string;
  databaseName: string;
}

/**
 * Reads the row of `entity` whose primary key is `id` straight from the table (no transformer,
 * no keys needed) and checks that each encrypted column is NULL or an envelope (format version 1,
 * a known algorithm, `keyVersion` when given), and that none of `plaintexts` appears anywhere in
 * the row. Resolves with the stored row, for further checks.
 * @throws StoredValueAssertionError naming the table and columns, never the values.
 */
export function assertStoredAsCiphertext<Entity extends ObjectLiteral>(
  dataSource: DataSource,
  entity: EntityTarget<Entity>,
  id: unknown,
  options: StoredAsCiphertextOptions = {},
): Promise<StoredRow> {
  return checkStoredRow(dataSource, entity, id, options, ciphertextProblems);
}

/**
 * The counterpart of `assertStoredAsCiphertext`, for data not (yet) encrypted (a table adopting
 * plaintext): each checked column is NULL or anything but an envelope, and each of `plaintexts`
 * appears in one of them. Resolves with the stored row.
 * @throws StoredValueAssertionError naming the table and columns, never the values.
 */
export function assertStoredAsPlaintext<Entity extends ObjectLiteral>(
  dataSource: DataSource,
  entity: EntityTarget<Entity>,
  id: unknown,
  options: StoredAsPlaintextOptions = {},
): Promise<StoredRow> {
  return checkStoredRow(dataSource, entity, id, options, plaintextProblems);
}

/** Reads the row and throws what `problemsOf` finds in it; resolves with the row otherwise. */
async function checkStoredRow<Options extends { columns?: readonly string[] }>(
  dataSource: DataSource,
  entity: EntityTarget<ObjectLiteral>,
  id: unknown,
  options: Options,
  problemsOf: (
    columns: readonly EncryptedColumnNames[],
    row: StoredRow,
    options: Options,
  ) => string[],
): Promise<StoredRow> {
  const { table, columns, row } = await readStoredRow(
    dataSource,
    entity,
    id,
    options.columns,
  );
  const problems = problemsOf(columns, row, options);
  if (problems.length > 0) throw new StoredValueAssertionError(table, problems);
  return row;
}

/** What is wrong with `row` if it should hold ciphertext in `columns` (empty: nothing). */
export function ciphertextProblems(
  columns: readonly EncryptedColumnNames[],
  row: StoredRow,
  options: Omit<StoredAsCiphertextOptions, 'columns'> = {},
): string[] {
  const plaintexts = checkedPlaintexts(options.plaintexts);
  const problems: string[] = [];
  for (const [databaseName, header] of storedHeaders(columns, row)) {
    if (typeof header === 'string') problems.push(`${databaseName} ${header}`);
    else if (
      options.keyVersion !== undefined &&
      header.keyVersion !== options.keyVersion
    )
      problems.push(
        `${databaseName} is sealed under key version ${header.keyVersion}, expected ${options.keyVersion}`,
      );
  }
  for (const [databaseName, value] of Object.entries(row))
    for (const [index, plaintext] of plaintexts.entries()) {
      const found = whereFound(value, plaintext);
      if (found)
        problems.push(`${databaseName} holds plaintexts[${index}] (${found})`);
    }
  return problems;
}

/** What is wrong with `row` if it should hold plaintext in `columns` (empty: nothing). */
export function plaintextProblems(
  columns: readonly EncryptedColumnNames[],
  row: StoredRow,
  options: Omit<StoredAsPlaintextOptions, 'columns'> = {},
): string[] {
  const plaintexts = checkedPlaintexts(options.plaintexts);
  const problems: string[] = [];
  for (const [databaseName, header] of storedHeaders(columns, row)) {
    if (typeof header !== 'string')
      problems.push(
        `${databaseName} holds an envelope (key version ${header.keyVersion}), expected plaintext`,
      );
  }
  for (const [index, plaintext] of plaintexts.entries())
    if (
      !columns.some(({ databaseName }) =>
        whereFound(row[databaseName], plaintext),
      )
    )
      problems.push(
        `plaintexts[${index}] is in none of ${columns.map((c) => c.databaseName).join(', ')}`,
      );
  return problems;
}

async function readStoredRow(
  dataSource: DataSource,
  entity: EntityTarget<ObjectLiteral>,
  id: unknown,
  only: readonly string[] | undefined,
): Promise<{ table: string; columns: EncryptedColumnNames[]; row: StoredRow }> {
  const metadata = dataSource.getMetadata(entity);
  const table = metadata.tablePath;
  const encrypted = metadata.columns.filter((column) =>
    (Array.isArray(column.transformer)
      ? column.transformer
      : [column.transformer]
    ).some((transformer) => transformer instanceof EncryptedValueTransformer),
  );
  if (encrypted.length === 0)
    throw new StoredValueAssertionError(table, [
      `${metadata.name} has no @EncryptedColumn`,
    ]);
  let columns: EncryptedColumnNames[] = encrypted;
  if (only) {
    const unknown = only.filter(
      (name) => !encrypted.some((column) => column.propertyName === name),
    );
    if (unknown.length > 0 || only.length === 0)
      throw new StoredValueAssertionError(table, [
        only.length === 0
          ? 'columns is empty (leave it out to check every encrypted column)'
          : `not an @EncryptedColumn of ${metadata.name}: ${unknown.join(', ')}`,
      ]);
    columns = encrypted.filter((column) => only.includes(column.propertyName));
  }

  const primary = metadata.primaryColumns;
  const idValues =
    primary.length === 1 && (typeof id !== 'object' || id === null)
      ? [id]
      : primary.map(
          (column) => (id as Record<string, unknown>)?.[column.propertyName],
        );
  if (idValues.some((value) => value === undefined || value === null))
    throw new StoredValueAssertionError(table, [
      `id must give the primary key (${primary.map((c) => c.propertyName).join(', ')})`,
    ]);
  const escape = (name: string) => dataSource.driver.escape(name);
  const where = primary
    .map((column, i) => `${escape(column.databaseName)} = $${i + 1}`)
    .join(' AND ');
  const rows = await dataSource.query<StoredRow[]>(
    `SELECT * FROM ${table.split('.').map(escape).join('.')} WHERE ${where}`,
    idValues,
  );
  if (rows.length !== 1)
    throw new StoredValueAssertionError(table, [
      `no row with that primary key`,
    ]);
  return {
    table,
    columns: columns.map(({ propertyName, databaseName }) => ({
      propertyName,
      databaseName,
    })),
    row: rows[0],
  };
}

/** Each of `columns` that is not NULL, with its envelope header or why it has none. */
function storedHeaders(
  columns: readonly EncryptedColumnNames[],
  row: StoredRow,
): [string, EnvelopeHeader | string][] {
  return columns.flatMap(({ databaseName }) => {
    const value = row[databaseName];
    return value === null || value === undefined
      ? []
      : [
          [databaseName, envelopeHeaderOf(value)] as [
            string,
            EnvelopeHeader | string,
          ],
        ];
  });
}

/** The envelope header of a stored value, or why it is not an envelope. */
function envelopeHeaderOf(value: unknown): EnvelopeHeader | string {
  if (!Buffer.isBuffer(value))
    return `is not bytea (a ${typeof value} is stored)`;
  if (value.length < HEADER_BYTES + TAG_BYTES)
    return `is ${value.length} bytes, shorter than any envelope`;
  try {
    return readEnvelopeHeader(value);
  } catch {
    return 'does not begin with an envelope header (format version 1, a known algorithm)';
  }
}

function checkedPlaintexts(plaintexts: readonly Plaintext[] = []): Buffer[] {
  return plaintexts.map((plaintext, index) => {
    const bytes = Buffer.isBuffer(plaintext)
      ? plaintext
      : typeof plaintext === 'string'
        ? Buffer.from(plaintext, 'utf8')
        : undefined;
    if (!bytes)
      throw new TypeError(`plaintexts[${index}] must be a string or a Buffer`);
    if (bytes.length === 0)
      throw new TypeError(
        `plaintexts[${index}] is empty: it would be found in every value`,
      );
    return bytes;
  });
}

/** How `plaintext` appears in a stored value ('UTF-8', 'hex'), or undefined when it does not. */
function whereFound(value: unknown, plaintext: Buffer): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Buffer.isBuffer(value)) {
    if (value.includes(plaintext)) return 'UTF-8';
    return value
      .toString('latin1')
      .toLowerCase()
      .includes(plaintext.toString('hex'))
      ? 'hex'
      : undefined;
  }
  const text =
    typeof value === 'string'
      ? value
      : value instanceof Date
        ? value.toISOString()
        : JSON.stringify(value);
  if (text.includes(plaintext.toString('utf8'))) return 'UTF-8';
  return text.toLowerCase().includes(plaintext.toString('hex'))
    ? 'hex'
    : undefined;
}
