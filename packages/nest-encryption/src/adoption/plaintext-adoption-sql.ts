import { adoptedPlaintextPredicate } from '../encrypted-column/encrypted-value-codec';

/**
 * The SQL that starts and ends a column's plaintext adoption (docs/plaintext-adoption.md), for the
 * app's own migrations: the library owns no tables. Pure string builders; identifiers are quoted
 * here, and no value is ever part of the text.
 */

/** The source column types `plaintextAdoptionSql` converts, each to one value kind. */
export const ADOPTABLE_SOURCE_TYPES = [
  'text',
  'varchar',
  'jsonb',
  'json',
  'integer',
  'bigint',
  'numeric',
  'double precision',
  'boolean',
  'date',
  'timestamptz',
] as const;

export type AdoptableSourceType = (typeof ADOPTABLE_SOURCE_TYPES)[number];

export interface PlaintextAdoptionColumn {
  /** `table` or `schema.table`, unquoted. */
  table: string;
  /** The column's database name, unquoted. */
  column: string;
  /** Its type today. */
  from: AdoptableSourceType;
}

/** Why a source type is refused, when a better route exists. */
const REFUSED_TYPE_HINTS: Record<string, string> = {
  timestamp:
    'a timestamp without time zone names no instant; convert it first, stating its zone: ' +
    "ALTER COLUMN … TYPE timestamptz USING c AT TIME ZONE 'UTC'",
  'timestamp without time zone':
    'a timestamp without time zone names no instant; convert it first, stating its zone: ' +
    "ALTER COLUMN … TYPE timestamptz USING c AT TIME ZONE 'UTC'",
  real: 'convert it to double precision first (ALTER COLUMN … TYPE double precision)',
  smallint: 'convert it to integer first (ALTER COLUMN … TYPE integer)',
  char: 'char(n) pads with blanks; convert it to text first, trimming as you decide',
  character:
    'char(n) pads with blanks; convert it to text first, trimming as you decide',
  bytea:
    'binary values have no value kind of an encrypted column; store them as files or base64 text',
};

/**
 * Marker byte and value tag (encrypted-value-codec.ts), then how the value's bytes are computed,
 * and which rows cannot convert exactly (refused before anything changes).
 */
interface Conversion {
  prefix: string;
  bytes: (c: string) => string;
  /** SQL NULL when the value must be stored as NULL (a JSON `null` reads as null either way). */
  isNull?: (c: string) => string;
  inexact?: (c: string) => string;
  inexactReason?: string;
}

const STRING = "'\\x0001'::bytea";
const NUMBER = "'\\x0002'::bytea";
const DATE = "'\\x0004'::bytea";
const JSON_TAG = "'\\x0005'::bytea";
/** The largest integer a float64 (a JavaScript number) holds exactly: 2^53 − 1. */
const MAX_SAFE_INTEGER = '9007199254740991';
/** ±8.64e15 ms is the range of a JavaScript Date; in seconds here. */
const DATE_RANGE_SECONDS = '8640000000000';

const toUtf8 = (c: string) => `convert_to(${c}::text, 'UTF8')`;
const float8 = (c: string) => `float8send(${c}::float8)`;
const epochMs = (c: string) =>
  `float8send(floor(extract(epoch from ${c}) * 1000)::float8)`;
const outsideDateRange = (c: string) =>
  `NOT isfinite(${c}) OR abs(extract(epoch from ${c})) > ${DATE_RANGE_SECONDS}`;

const CONVERSIONS: Record<AdoptableSourceType, Conversion> = {
  text: { prefix: STRING, bytes: toUtf8 },
  varchar: { prefix: STRING, bytes: toUtf8 },
  json: {
    prefix: JSON_TAG,
    bytes: toUtf8,
    isNull: (c) => `json_typeof(${c}) = 'null'`,
  },
  jsonb: {
    prefix: JSON_TAG,
    bytes: toUtf8,
    isNull: (c) => `jsonb_typeof(${c}) = 'null'`,
  },
  integer: { prefix: NUMBER, bytes: float8 },
  bigint: {
    prefix: NUMBER,
    bytes: float8,
    inexact: (c) => `${c} > ${MAX_SAFE_INTEGER} OR ${c} < -${MAX_SAFE_INTEGER}`,
    inexactReason:
      'integers beyond ±(2^53 − 1), which a JavaScript number cannot hold exactly (adopt them as text)',
  },
  numeric: {
    prefix: NUMBER,
    bytes: float8,
    // float8's text is the shortest decimal that reads back as the same double.
    inexact: (c) =>
      `${c} = 'NaN'::numeric OR ${c}::float8::text::numeric <> ${c}`,
    inexactReason:
      'NaN, or numbers a JavaScript number cannot hold exactly (adopt them as text)',
  },
  'double precision': {
    prefix: NUMBER,
    bytes: float8,
    inexact: (c) => `${c} = 'NaN'::float8`,
    inexactReason: 'NaN, which no comparison of the value could ever match',
  },
  boolean: {
    prefix: '',
    bytes: (c) =>
      `CASE WHEN ${c} THEN '\\x000301'::bytea ELSE '\\x000300'::bytea END`,
  },
  // A date is midnight UTC of that day, as a JavaScript Date.
  date: {
    prefix: DATE,
    bytes: epochMs,
    inexact: outsideDateRange,
    inexactReason: 'infinite dates, or dates outside a JavaScript Date',
  },
  timestamptz: {
    prefix: DATE,
    bytes: epochMs,
    inexact: outsideDateRange,
    inexactReason:
      'infinite timestamps, or timestamps outside a JavaScript Date',
  },
};

/**
 * The migration statements that turn a plaintext column into an adopting `bytea` column: each
 * value becomes `0x00 ‖ tag ‖ value bytes`, exactly what `encodeValue` writes after the marker,
 * and NULL stays NULL (docs/plaintext-adoption.md#the-migration). When a row cannot convert
 * exactly (NaN, an integer beyond 2^53, an infinite date) a `DO` block raises first and nothing
 * changes. The column's default is dropped; an index on it must be dropped by hand beforehand.
 *
 * Several statements in one string: run it with `queryRunner.query(sql)` in a migration, which
 * runs them in one transaction. Never let `migration:generate` write this migration: it drops
 * the column and adds a new one, losing every value.
 *
 * @throws Error for a source type that cannot be adopted (with the route to take instead), or an
 *   empty name.
 */
export function plaintextAdoptionSql({
  table,
  column,
  from,
}: PlaintextAdoptionColumn): string {
  const conversion = conversionOf(from);
  const tableName = quoteTable(table);
  const c = quoteIdentifier(column);
  const value = conversion.prefix
    ? `${conversion.prefix} || ${conversion.bytes(c)}`
    : conversion.bytes(c);
  const isNull = conversion.isNull
    ? `${c} IS NULL OR ${conversion.isNull(c)}`
    : `${c} IS NULL`;
  const alter =
    `ALTER TABLE ${tableName} ALTER COLUMN ${c} DROP DEFAULT, ` +
    `ALTER COLUMN ${c} TYPE bytea USING CASE WHEN ${isNull} THEN NULL ELSE ${value} END;`;
  if (!conversion.inexact) return alter;
  const message = raiseMessage(
    `plaintext adoption of ${table}.${column} (${from}) refused: some rows hold ${conversion.inexactReason}; nothing was changed`,
  );
  return (
    `DO $adoption$ BEGIN IF EXISTS (SELECT 1 FROM ${tableName} WHERE ${conversion.inexact(c)}) ` +
    `THEN RAISE EXCEPTION ${message}; END IF; END $adoption$;\n${alter}`
  );
}

/**
 * A `DO` block for the migration that ends adoption of `columns` of `table`: it raises while any
 * row still holds a legacy plaintext value, so a deploy with work left fails safely and rolls
 * back (docs/plaintext-adoption.md#ending-the-mode). Passes (and changes nothing) otherwise.
 * @throws Error for no column or an empty name.
 */
export function endPlaintextAdoptionSql(
  table: string,
  columns: readonly string[],
): string {
  if (columns.length === 0)
    throw new Error('endPlaintextAdoptionSql: name at least one column');
  const tableName = quoteTable(table);
  const marked = columns
    .map((column) => adoptedPlaintextPredicate(quoteIdentifier(column)))
    .join(' OR ');
  const message = raiseMessage(
    `plaintext adoption of ${table} (${columns.join(', ')}) is not finished: rows still hold plaintext; ` +
      'see `nest-encryption adoption status`',
  );
  return (
    `DO $adoption$ BEGIN IF EXISTS (SELECT 1 FROM ${tableName} WHERE ${marked}) ` +
    `THEN RAISE EXCEPTION ${message}; END IF; END $adoption$;`
  );
}

function conversionOf(from: string): Conversion {
  if (
    typeof from === 'string' &&
    Object.hasOwn(CONVERSIONS, from) &&
    (ADOPTABLE_SOURCE_TYPES as readonly string[]).includes(from)
  )
    return CONVERSIONS[from as AdoptableSourceType];
  const name = String(from).trim().toLowerCase();
  const hint = Object.hasOwn(REFUSED_TYPE_HINTS, name)
    ? `: ${REFUSED_TYPE_HINTS[name]}`
    : `; it must be one of ${ADOPTABLE_SOURCE_TYPES.join(', ')}`;
  throw new Error(
    `plaintextAdoptionSql: cannot adopt a column of type "${String(from)}"${hint}`,
  );
}

/** `"name"`, with embedded quotes doubled; an empty name is refused. */
function quoteIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0'))
    throw new Error('plaintext adoption SQL: a table or column name is empty');
  return `"${name.replace(/"/g, '""')}"`;
}

/** `table` or `schema.table`, each part quoted. */
function quoteTable(table: string): string {
  if (typeof table !== 'string')
    throw new Error('plaintext adoption SQL: a table or column name is empty');
  const parts = table.split('.');
  if (parts.length > 2)
    throw new Error(
      'plaintext adoption SQL: name a table as "table" or "schema.table"',
    );
  return parts.map(quoteIdentifier).join('.');
}

/** A string literal for RAISE: quotes doubled, and `%` (RAISE's placeholder) doubled too. */
function raiseMessage(text: string): string {
  return `'${text.replace(/'/g, "''").replace(/%/g, '%%')}'`;
}
