import { createHash } from 'node:crypto';

/**
 * A 64-bit PostgreSQL advisory lock id for one `id` (a user's) within a `namespace` (what the
 * lock serialises), as a decimal string for a `$1::bigint` parameter. Namespaces keep locks of
 * different purposes on one user apart; every instance computes the same id.
 */
export function advisoryLockKey(namespace: string, id: string): string {
  return createHash('sha256')
    .update(`${namespace}\u0000${id}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}
