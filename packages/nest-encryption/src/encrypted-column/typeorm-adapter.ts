/**
 * Every use of TypeORM internals by the encrypted columns — private and protected members that
 * TypeORM neither documents nor promises to keep — and nothing else. Verified against the
 * versions in `VERIFIED_TYPEORM`; `installTypeOrmAdapter()` refuses any other at start-up, and
 * `typeorm-adapter.spec.ts` pins each hook, so an upgrade fails loudly instead of a guard going
 * quiet. Installed by `installEncryptedColumns()` (so by `EncryptedColumnsModule`), never as a
 * side effect of declaring a column.
 *
 * 1. **Where-clause guard** (`SelectQueryBuilder.buildWhere`, `QueryBuilder.getPredicates`, both
 *    protected and synchronous): while either runs, `isBuildingWhereClause()` is true and the
 *    transformer refuses to seal, so a find-options `where` on an encrypted column (which, with
 *    random nonces, could only ever match nothing) throws `EncryptedColumnQueryError`.
 *    No public route tells that case apart (TypeORM 1.1.1, node_modules/typeorm):
 *    - `ValueTransformer.to(value)` receives the value only (decorator/options/ValueTransformer.d.ts);
 *      a request for more context (typeorm#3978) was closed without it.
 *    - A plain value reaches `to()` by the same call from a where as from a write:
 *      `buildWhere` calls `ApplyValueTransformers.transformTo(column.transformer, value)`
 *      (query-builder/SelectQueryBuilder.js:2643), as `PostgresDriver.preparePersistentValue` does
 *      for INSERT and UPDATE values (driver/postgres/PostgresDriver.js:513); `getPredicates` calls
 *      `column.getEntityValue(where, true)` (query-builder/QueryBuilder.js:1035), the method
 *      persistence uses (metadata/ColumnMetadata.js:509). Only operators (`In()`, `Not()`…) are
 *      recognisable publicly, as a `FindOperator` passed to `to()` (typeorm#2390, #4399, #10092);
 *      the transformer checks that too.
 *    - Subscribers have no find or where event. `beforeQuery` sees finished SQL: a ciphertext
 *      among the parameters of an UPDATE may be a SET value or a WHERE value, which only parsing
 *      the SQL could tell, and it fires after `beforeUpdate`, so a misuse would first meet other
 *      errors (or none, with a raw query that legitimately filters on the envelope bytes).
 * 2. **Change detection by plaintext** (`SubjectChangedColumnsComputer.computeDiffColumns`,
 *    protected, synchronous, imported by path): `save()` diffs an entity against its reloaded row
 *    by running the transformer on both sides; with random nonces they never match, so every
 *    encrypted column was re-encrypted (twice per diff) and rewritten although unchanged. While
 *    the diff runs, `isComputingChanges()` is true and the transformer returns the encoded
 *    plaintext instead, kept for `wipeAfterDiff()` and zeroed when the diff returns. No public
 *    hook runs around the diff (it happens before `beforeUpdate`, which receives its result).
 * 3. **Transaction depth** (`QueryRunner.transactionDepth`, protected): the write guard runs its
 *    check at the outermost COMMIT only; `beforeTransactionCommit` fires for savepoint releases
 *    too (driver/postgres/PostgresQueryRunner.js:149), and `isTransactionActive` is true for both.
 * 4. **Per-DataSource transformers** (`ColumnMetadata.transformer`): the property is public, but
 *    that TypeORM reads it at every use (ApplyValueTransformers is always handed
 *    `column.transformer`) rather than keeping a copy made when the metadata was built is not
 *    promised. `replaceColumnTransformers()` relies on it to give each DataSource's columns a
 *    transformer bound to that DataSource's options; the "two apps in one process" integration
 *    test pins it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  EntityMetadata,
  QueryBuilder,
  QueryRunner,
  SelectQueryBuilder,
} from 'typeorm';
// TypeORM exports its persistence internals only by path.
import { SubjectChangedColumnsComputer } from 'typeorm/persistence/SubjectChangedColumnsComputer.js';

/** The TypeORM releases this file was verified against: `from` inclusive, `below` exclusive. */
export const VERIFIED_TYPEORM = Object.freeze({
  from: '1.1.1',
  below: '1.2.0',
});

/** TypeORM's version, from its package.json (its `exports` map hides that file from `require`). */
export function installedTypeOrmVersion(): string {
  const packageJson = join(dirname(require.resolve('typeorm')), 'package.json');
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as {
    version?: unknown;
  };
  if (typeof version !== 'string')
    throw new Error(`no version in ${packageJson}`);
  return version;
}

/**
 * @throws Error naming the installed and the verified versions, when `version` lies outside
 *   `VERIFIED_TYPEORM`: this file must be re-verified (and its spec run) before an upgrade.
 */
export function assertVerifiedTypeOrmVersion(version: string): void {
  const parsed = parseVersion(version);
  if (
    !parsed ||
    compareVersions(parsed, parseVersion(VERIFIED_TYPEORM.from)!) < 0 ||
    compareVersions(parsed, parseVersion(VERIFIED_TYPEORM.below)!) >= 0
  ) {
    throw new Error(
      `typeorm ${version} is installed, but the encrypted columns' TypeORM adapter ` +
        `(src/encrypted-column/typeorm-adapter.ts) was verified against >=${VERIFIED_TYPEORM.from} <${VERIFIED_TYPEORM.below} only: ` +
        're-verify its hooks against the new version, then widen VERIFIED_TYPEORM',
    );
  }
}

let installed = false;

/** Checks TypeORM's version, then installs the hooks above (once per process; idempotent). */
export function installTypeOrmAdapter(): void {
  if (installed) return;
  assertVerifiedTypeOrmVersion(installedTypeOrmVersion());
  installWhereClauseGuard();
  installChangeDetection();
  installed = true;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** `prototype[name]`, which must still be a method; else the hook cannot be installed. */
function methodOf(prototype: object, name: string, hook: string): Method {
  const method = (prototype as Record<string, unknown>)[name];
  if (typeof method !== 'function')
    throw new Error(
      `TypeORM internals changed (${prototype.constructor.name}.${name} is gone): cannot ${hook}`,
    );
  return method as Method;
}

/** `method`, with `enter()` before each (synchronous) call and `exit()` after it, even a throwing one. */
function bracketed(method: Method, enter: () => void, exit: () => void) {
  return function bracketedMethod(this: unknown, ...args: unknown[]) {
    enter();
    try {
      return method.apply(this, args);
    } finally {
      exit();
    }
  };
}

// 1. Where-clause guard.

let whereDepth = 0;
const enterWhere = () => void whereDepth++;
const exitWhere = () => void whereDepth--;

export function isBuildingWhereClause(): boolean {
  return whereDepth > 0;
}

function installWhereClauseGuard(): void {
  const hook = 'guard encrypted columns against where conditions';
  const buildWhere = methodOf(SelectQueryBuilder.prototype, 'buildWhere', hook);
  const getPredicates = methodOf(QueryBuilder.prototype, 'getPredicates', hook);
  Object.assign(SelectQueryBuilder.prototype, {
    buildWhere: bracketed(buildWhere, enterWhere, exitWhere),
  });
  // A generator: each step (where the values are read and transformed) runs guarded, not the
  // code that consumes what it yields.
  Object.assign(QueryBuilder.prototype, {
    *getPredicates(this: unknown, ...args: unknown[]) {
      const inner = getPredicates.apply(this, args) as Iterator<unknown>;
      const next = bracketed(() => inner.next(), enterWhere, exitWhere);
      for (;;) {
        const step = next() as IteratorResult<unknown>;
        if (step.done) return step.value as unknown;
        yield step.value;
      }
    },
  });
}

// 2. Change detection by plaintext.

let diffDepth = 0;
const comparisonBuffers: Buffer[] = [];

export function isComputingChanges(): boolean {
  return diffDepth > 0;
}

/** Keeps `buffer` (a comparison form holding plaintext) to be wiped when the diff ends. */
export function wipeAfterDiff(buffer: Buffer): Buffer {
  comparisonBuffers.push(buffer);
  return buffer;
}

function installChangeDetection(): void {
  const computeDiffColumns = methodOf(
    SubjectChangedColumnsComputer.prototype,
    'computeDiffColumns',
    'compare encrypted columns by value when saving',
  );
  Object.assign(SubjectChangedColumnsComputer.prototype, {
    computeDiffColumns: bracketed(
      computeDiffColumns,
      () => void diffDepth++,
      () => {
        diffDepth--;
        if (diffDepth > 0) return;
        for (const buffer of comparisonBuffers) buffer.fill(0);
        comparisonBuffers.length = 0;
      },
    ),
  });
}

// 3. Transaction depth.

/** TypeORM's nesting depth of the runner's transaction (1 = outermost). */
export function transactionDepth(queryRunner: QueryRunner): number {
  const depth = (queryRunner as unknown as { transactionDepth?: unknown })
    .transactionDepth;
  if (typeof depth !== 'number')
    throw new Error(
      'TypeORM QueryRunner.transactionDepth is gone: the encrypted columns’ TypeORM adapter needs updating',
    );
  return depth;
}

// 4. Per-DataSource transformers.

/**
 * Replaces each column's transformer (each member of a transformer array) by `replace(it)`, on
 * these metadata only: TypeORM builds one `ColumnMetadata` per DataSource.
 */
export function replaceColumnTransformers(
  metadatas: readonly EntityMetadata[],
  replace: <T>(transformer: T) => T,
): void {
  for (const column of metadatas.flatMap((metadata) => metadata.columns)) {
    if (column.transformer === undefined) continue;
    column.transformer = Array.isArray(column.transformer)
      ? column.transformer.map(replace)
      : replace(column.transformer);
  }
}

type Version = [number, number, number];

/** `major.minor.patch`, a pre-release or build suffix ignored; undefined when not a version. */
function parseVersion(version: string): Version | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  return match
    ? [Number(match[1]), Number(match[2]), Number(match[3])]
    : undefined;
}

function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
