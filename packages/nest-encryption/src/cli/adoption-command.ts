import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DataSource } from 'typeorm';
import {
  countAdoptedPlaintext,
  DEFAULT_STATUS_CHUNK_ROWS,
  PlaintextAdoptionCount,
  UnknownAdoptingEntityError,
} from '../adoption/plaintext-adoption-status';
import { EncryptedEntityDiscoveryError } from '../rotation/encrypted-entity-catalog';
import { ProgressBar, ProgressStream } from './progress-bar';

export const ADOPTION_USAGE = `Usage: nest-encryption adoption status -d FILE [--entity NAME] [--json] [--check] [--owners]
       (in the vault-pii repository: npm run adoption -- status -d ormconfig.ts)

Counts, per column in plaintext adoption (@EncryptedColumn({ adoptPlaintext: true })), the rows,
the legacy plaintext values left, those without an owner, and the owners who still hold some. It
needs no keys and prints no values. A full scan of each adopting table, in keyset chunks over the
primary key: run it off-peak on big tables.

Options:
  -d, --data-source FILE  a module whose default export is a TypeORM DataSource or a Promise of
                          one (as for the TypeORM CLI); initialised here when it is not yet
  --entity NAME           only this entity (its class or table name)
  --json                  the counts as JSON on standard output
  --check                 exit 1 while any plaintext is left (for deploy scripts)
  --owners                also list the ids of the owners with plaintext left (ids only)
  --chunk-rows N          rows per chunk (default ${DEFAULT_STATUS_CHUNK_ROWS})
  -h, --help              this text

Exit status: 0 counted (with --check: and nothing left); 1 plaintext left under --check, or the
command failed (the reason on standard error); 2 a mistake in the command line.
`;

/** Where the command writes: standard output for results, standard error for progress and errors. */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  /** For the progress bar's throttling; default `Date.now`. */
  now?: () => number;
}

/** A mistake in the command line itself: usage is printed, exit code 2. */
export class UsageError extends Error {}

/** The command cannot do its work: the message, exit code 1. */
class CommandError extends Error {}

export interface AdoptionStatusArguments {
  dataSource: string;
  entity?: string;
  json: boolean;
  check: boolean;
  owners: boolean;
  chunkRows: number;
  help: boolean;
}

/** `nest-encryption adoption …`; resolves to the exit status. */
export async function runAdoptionCommand(
  argv: string[],
  io: CommandIo,
): Promise<number> {
  let parsed: AdoptionStatusArguments;
  try {
    parsed = parseAdoptionArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`${error.message}\n\n${ADOPTION_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(ADOPTION_USAGE);
    return 0;
  }
  try {
    const count = await withDataSource(parsed.dataSource, (dataSource) =>
      countWithProgress(dataSource, parsed, io),
    );
    io.stdout.write(
      parsed.json
        ? `${JSON.stringify(toJson(count, parsed.owners), null, 2)}\n`
        : formatTable(count, parsed.owners),
    );
    return parsed.check && !count.complete ? 1 : 0;
  } catch (error) {
    if (
      error instanceof CommandError ||
      error instanceof UnknownAdoptingEntityError ||
      error instanceof EncryptedEntityDiscoveryError
    ) {
      io.stderr.write(`nest-encryption adoption: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(
      `nest-encryption adoption: the count failed: ${(error as Error).message ?? String(error)}\n`,
    );
    return 1;
  }
}

/**
 * `status -d FILE [--entity NAME] [--json] [--check] [--owners] [--chunk-rows N]`.
 * @throws UsageError naming what is wrong.
 */
export function parseAdoptionArguments(
  argv: string[],
): AdoptionStatusArguments {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'data-source': { type: 'string', short: 'd' },
        entity: { type: 'string' },
        json: { type: 'boolean' },
        check: { type: 'boolean' },
        owners: { type: 'boolean' },
        'chunk-rows': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    // parseArgs's own message names the option (unknown, or missing its value).
    throw new UsageError((error as Error).message);
  }
  const help = values.help === true;
  const [subcommand, extra] = positionals;
  if (!help && subcommand !== 'status')
    throw new UsageError(
      subcommand
        ? `unknown adoption command "${subcommand}" (there is: status)`
        : 'no adoption command given (there is: status)',
    );
  if (extra !== undefined)
    throw new UsageError(`unexpected argument "${extra}"`);
  const dataSource = values['data-source'] as string | undefined;
  if (!help && !dataSource)
    throw new UsageError('-d/--data-source FILE is required');
  const entity = values.entity as string | undefined;
  if (entity !== undefined && entity.trim() === '')
    throw new UsageError('--entity needs a name');
  return {
    dataSource: dataSource ?? '',
    entity,
    json: values.json === true,
    check: values.check === true,
    owners: values.owners === true,
    chunkRows: chunkRowsOf(values['chunk-rows'] as string | undefined),
    help,
  };
}

function chunkRowsOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_STATUS_CHUNK_ROWS;
  const rows = /^[1-9][0-9]{0,8}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(rows))
    throw new UsageError(
      `--chunk-rows must be a whole number from 1 to 999999999, not "${text}"`,
    );
  return rows;
}

async function countWithProgress(
  dataSource: DataSource,
  args: AdoptionStatusArguments,
  io: CommandIo,
): Promise<PlaintextAdoptionCount> {
  const progress = new ProgressBar(io.stderr, { now: io.now });
  try {
    return await countAdoptedPlaintext(dataSource, {
      entity: args.entity,
      chunkRows: args.chunkRows,
      onProgress: ({ entity, scannedRows, estimatedRows }) =>
        progress.update(entity, scannedRows, estimatedRows),
    });
  } finally {
    progress.finish();
  }
}

/**
 * Loads the module's DataSource, initialises it unless it is already, runs `work`, and closes
 * it: the command owns the process, and an open pool would keep it alive.
 */
async function withDataSource<T>(
  file: string,
  work: (dataSource: DataSource) => Promise<T>,
): Promise<T> {
  const path = resolve(file);
  if (!existsSync(path))
    throw new CommandError(`the data-source module ${file} does not exist`);
  let loaded: unknown;
  try {
    // ormconfig.ts-style modules export a Promise of the DataSource.
    const module = (await import(path)) as { default?: Promise<unknown> };
    loaded = await (module.default ?? module);
  } catch (error) {
    throw new CommandError(
      `cannot load the data-source module ${file}: ${(error as Error).message}`,
    );
  }
  if (!isDataSource(loaded))
    throw new CommandError(
      `${file} must export a TypeORM DataSource (or a Promise of one) as its default export`,
    );
  try {
    if (!loaded.isInitialized) await loaded.initialize();
    return await work(loaded);
  } finally {
    if (loaded.isInitialized) await loaded.destroy();
  }
}

function isDataSource(value: unknown): value is DataSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DataSource).initialize === 'function' &&
    typeof (value as DataSource).query === 'function' &&
    'isInitialized' in value
  );
}

function toJson(count: PlaintextAdoptionCount, listOwners: boolean) {
  return {
    complete: count.complete,
    entities: count.entities,
    ownersWithPlaintext: count.ownersWithPlaintext.length,
    ...(listOwners ? { owners: count.ownersWithPlaintext } : {}),
  };
}

function formatTable(
  count: PlaintextAdoptionCount,
  listOwners: boolean,
): string {
  if (count.entities.length === 0)
    return 'No column adopts plaintext (no @EncryptedColumn({ adoptPlaintext: true })).\n';
  const header = [
    'entity',
    'table',
    'column',
    'rows',
    'plaintext',
    'ownerless',
    'owners',
  ];
  const rows = count.entities.flatMap((entity) =>
    entity.columns.map((column) => [
      entity.entity,
      entity.table,
      column.column,
      number(entity.rows),
      number(column.plaintextRows),
      number(column.ownerlessPlaintextRows),
      number(entity.ownersWithPlaintext),
    ]),
  );
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        i < 3 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]),
      )
      .join('  ')
      .trimEnd();
  const owners = count.ownersWithPlaintext;
  const summary = count.complete
    ? 'No plaintext left: adoption of these columns can end (docs/plaintext-adoption.md#ending-the-mode).'
    : `${number(owners.length)} owner(s) still hold plaintext.`;
  const ownerless = count.entities.reduce(
    (sum, entity) =>
      sum +
      entity.columns.reduce(
        (columnSum, column) => columnSum + column.ownerlessPlaintextRows,
        0,
      ),
    0,
  );
  const ownerlessNote =
    ownerless > 0
      ? `${number(ownerless)} plaintext value(s) have no owner: no login can encrypt them; give them an owner or delete them.\n`
      : '';
  const ownerList =
    listOwners && owners.length > 0
      ? `\nOwners with plaintext:\n${owners.join('\n')}\n`
      : '';
  return `${[line(header), ...rows.map(line)].join('\n')}\n\n${summary}\n${ownerlessNote}${ownerList}`;
}

function number(value: number): string {
  return value.toLocaleString('en-US');
}
