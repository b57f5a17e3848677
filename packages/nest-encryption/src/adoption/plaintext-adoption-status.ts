import type { DataSource } from 'typeorm';
import {
  discoverEncryptedEntities,
  EncryptedEntity,
} from '../rotation/encrypted-entity-catalog';
import { adoptedPlaintextPredicate } from '../encrypted-column/encrypted-value-codec';

/** An entity with columns in plaintext adoption (`@EncryptedColumn({ adoptPlaintext: true })`). */
export interface AdoptingEntity {
  name: string;
  /** `schema.table` or `table`, unquoted parts. */
  tablePath: string[];
  primaryColumn: EncryptedEntity['primaryColumn'];
  ownerColumn: string;
  /** Database names of its adopting columns only. */
  adoptingColumns: string[];
}

/** How much legacy plaintext one adopting column still holds. */
export interface AdoptingColumnCount {
  column: string;
  plaintextRows: number;
  /** Plaintext rows with no owner: no login can ever encrypt them, and they block ending the mode. */
  ownerlessPlaintextRows: number;
}

export interface AdoptingEntityCount {
  entity: string;
  table: string;
  rows: number;
  /** Owners with at least one plaintext value in this entity. */
  ownersWithPlaintext: number;
  columns: AdoptingColumnCount[];
}

export interface PlaintextAdoptionCount {
  /** No adopting column holds plaintext any more: the mode may end. */
  complete: boolean;
  entities: AdoptingEntityCount[];
  /** Owner ids with plaintext in any entity counted (ids only, never values). */
  ownersWithPlaintext: string[];
}

export interface ScanProgress {
  entity: string;
  scannedRows: number;
  /** PostgreSQL's estimate of the table's rows (`pg_class.reltuples`), when it has one. */
  estimatedRows?: number;
}

export interface CountOptions {
  /** Only this entity (its class name or its table's name). */
  entity?: string;
  /** Rows per keyset chunk over the primary key; default 50 000. */
  chunkRows?: number;
  /** After each chunk. */
  onProgress?: (progress: ScanProgress) => void;
}

export const DEFAULT_STATUS_CHUNK_ROWS = 50_000;

/** The entity asked for by `--entity` does not adopt plaintext (or does not exist). */
export class UnknownAdoptingEntityError extends Error {}

/**
 * The entities of an initialised DataSource with adopting columns, read from TypeORM's metadata.
 * Needs no keys: the columns are never bound.
 */
export function adoptingEntitiesOf(dataSource: DataSource): AdoptingEntity[] {
  const encrypted = discoverEncryptedEntities(
    dataSource.entityMetadatas,
    (column) => dataSource.driver.normalizeType(column),
  );
  return encrypted.flatMap((entity: EncryptedEntity) => {
    const adoptingColumns = entity.encryptedColumns
      .filter((column) => column.transformer.adoptsPlaintext)
      .map((column) => column.databaseName);
    return adoptingColumns.length === 0
      ? []
      : [
          {
            name: entity.name,
            tablePath: entity.tablePath,
            primaryColumn: entity.primaryColumn,
            ownerColumn: entity.ownerColumn,
            adoptingColumns,
          },
        ];
  });
}

/**
 * Counts, per adopting entity and column, the rows and the legacy plaintext values left, in
 * keyset chunks over the primary key (each chunk one short read-only statement, so a big table
 * never holds a long snapshot). Reads markers and owner ids only, never a value.
 * @throws UnknownAdoptingEntityError when `options.entity` names no adopting entity.
 */
export async function countAdoptedPlaintext(
  dataSource: DataSource,
  options: CountOptions = {},
): Promise<PlaintextAdoptionCount> {
  const chunkRows = options.chunkRows ?? DEFAULT_STATUS_CHUNK_ROWS;
  if (!Number.isSafeInteger(chunkRows) || chunkRows < 1)
    throw new RangeError('chunkRows must be a positive integer');
  let entities = adoptingEntitiesOf(dataSource);
  if (options.entity !== undefined) {
    const wanted = options.entity;
    const matching = entities.filter(
      (entity) =>
        entity.name === wanted || entity.tablePath.join('.') === wanted,
    );
    if (matching.length === 0)
      throw new UnknownAdoptingEntityError(
        `no entity named "${wanted}" adopts plaintext` +
          (entities.length > 0
            ? ` (adopting: ${entities.map((entity) => entity.name).join(', ')})`
            : ' (none does)'),
      );
    entities = matching;
  }
  const allOwners = new Set<string>();
  const counts: AdoptingEntityCount[] = [];
  for (const entity of entities) {
    counts.push(
      await countEntity(dataSource, entity, chunkRows, allOwners, options),
    );
  }
  return {
    complete: counts.every((entity) =>
      entity.columns.every((column) => column.plaintextRows === 0),
    ),
    entities: counts,
    ownersWithPlaintext: [...allOwners].sort(),
  };
}

async function countEntity(
  dataSource: DataSource,
  entity: AdoptingEntity,
  chunkRows: number,
  allOwners: Set<string>,
  options: CountOptions,
): Promise<AdoptingEntityCount> {
  const escape = (name: string) => dataSource.driver.escape(name);
  const table = entity.tablePath.map(escape).join('.');
  const estimatedRows = await estimateRows(dataSource, table);
  const { first, next } = chunkSql(entity, escape);
  const owners = new Set<string>();
  const columns = entity.adoptingColumns.map((column) => ({
    column,
    plaintextRows: 0,
    ownerlessPlaintextRows: 0,
  }));
  let rows = 0;
  let last: unknown;
  for (;;) {
    const [chunk] = await dataSource.query<ChunkRow[]>(
      last === undefined ? first : next,
      last === undefined ? [chunkRows] : [chunkRows, last],
    );
    const chunkRowCount = Number(chunk.rows);
    if (chunkRowCount === 0) break;
    rows += chunkRowCount;
    columns.forEach((column, i) => {
      column.plaintextRows += Number(chunk[`p${i}`]);
      column.ownerlessPlaintextRows += Number(chunk[`o${i}`]);
    });
    for (const owner of chunk.owners ?? []) {
      owners.add(owner);
      allOwners.add(owner);
    }
    options.onProgress?.({
      entity: entity.name,
      scannedRows: rows,
      estimatedRows,
    });
    if (chunkRowCount < chunkRows) break;
    last = chunk.last;
  }
  return {
    entity: entity.name,
    table: entity.tablePath.join('.'),
    rows,
    ownersWithPlaintext: owners.size,
    columns,
  };
}

interface ChunkRow {
  rows: string;
  last: unknown;
  owners: string[] | null;
  [count: `${'p' | 'o'}${number}`]: string;
}

/**
 * One chunk's counts: `first` takes $1 = chunk size, `next` also $2 = the last key seen. The chunk
 * selects the key, the owner and one "is marked" flag per column: never a value.
 */
function chunkSql(
  entity: AdoptingEntity,
  escape: (name: string) => string,
): { first: string; next: string } {
  const table = entity.tablePath.map(escape).join('.');
  const primary = escape(entity.primaryColumn.databaseName);
  const selected = [
    `${primary} AS key`,
    `${escape(entity.ownerColumn)} AS owner_id`,
    ...entity.adoptingColumns.map(
      (column, i) =>
        `coalesce(${adoptedPlaintextPredicate(escape(column))}, false) AS m${i}`,
    ),
  ].join(', ');
  const counts = entity.adoptingColumns
    .map(
      (_, i) =>
        `count(*) FILTER (WHERE m${i}) AS p${i}, ` +
        `count(*) FILTER (WHERE m${i} AND owner_id IS NULL) AS o${i}`,
    )
    .join(', ');
  const anyMarked = entity.adoptingColumns.map((_, i) => `m${i}`).join(' OR ');
  const chunk = (where: string) =>
    `WITH chunk AS (SELECT ${selected} FROM ${table}${where} ORDER BY ${primary} LIMIT $1) ` +
    `SELECT count(*) AS rows, (SELECT key FROM chunk ORDER BY key DESC LIMIT 1) AS last, ${counts}, ` +
    `array_agg(DISTINCT owner_id::text) FILTER (WHERE owner_id IS NOT NULL AND (${anyMarked})) AS owners ` +
    'FROM chunk';
  return {
    first: chunk(''),
    next: chunk(` WHERE ${primary} > $2::${entity.primaryColumn.sqlType}`),
  };
}

/** `reltuples`, PostgreSQL's row estimate (−1 or 0 before the first ANALYZE: none). */
async function estimateRows(
  dataSource: DataSource,
  quotedTable: string,
): Promise<number | undefined> {
  const [row] = await dataSource.query<{ estimate: number | null }[]>(
    'SELECT reltuples::float8 AS estimate FROM pg_class WHERE oid = to_regclass($1)',
    [quotedTable],
  );
  const estimate = Number(row?.estimate ?? -1);
  return estimate > 0 ? Math.round(estimate) : undefined;
}
