import { QueryBuilder, SelectQueryBuilder } from 'typeorm';

/**
 * TypeORM applies a column's transformer both when persisting and when building a `where` from
 * find options; for a randomised ciphertext the latter silently matches nothing. To fail loudly,
 * the two TypeORM methods that turn find-option objects into SQL are wrapped to raise a depth
 * counter while they run (both are synchronous), and the transformer refuses to encrypt then.
 * Pinned by the "where on an encrypted column fails" integration test: if a TypeORM upgrade
 * renames these methods, installation throws at start-up instead of the guard going quiet.
 */
let whereDepth = 0;
let installed = false;

export function isBuildingWhereClause(): boolean {
  return whereDepth > 0;
}

export function installWhereClauseGuard(): void {
  if (installed) return;
  const select = SelectQueryBuilder.prototype as unknown as Record<
    string,
    unknown
  >;
  const base = QueryBuilder.prototype as unknown as Record<string, unknown>;
  const buildWhere = select.buildWhere as
    ((this: unknown, ...args: unknown[]) => unknown) | undefined;
  const getPredicates = base.getPredicates as
    | ((this: unknown, ...args: unknown[]) => Iterator<unknown, unknown>)
    | undefined;
  if (typeof buildWhere !== 'function' || typeof getPredicates !== 'function') {
    throw new Error(
      'TypeORM internals changed: cannot guard encrypted columns against where conditions',
    );
  }

  select.buildWhere = function guardedBuildWhere(
    this: unknown,
    ...args: unknown[]
  ) {
    whereDepth++;
    try {
      return buildWhere.apply(this, args);
    } finally {
      whereDepth--;
    }
  };

  base.getPredicates = function* guardedGetPredicates(
    this: unknown,
    ...args: unknown[]
  ) {
    const inner = getPredicates.apply(this, args);
    for (;;) {
      whereDepth++;
      let step: IteratorResult<unknown, unknown>;
      try {
        step = inner.next();
      } finally {
        whereDepth--;
      }
      if (step.done) return step.value;
      yield step.value;
    }
  };
  installed = true;
}
