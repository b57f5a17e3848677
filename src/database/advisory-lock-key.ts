import { createHash } from 'node:crypto';

/**
 * A 64-bit PostgreSQL advisory lock id for `id` (a user id) in its own `namespace`
 * (`key-rotation`, `session-cap`, `contacts.create`), so that two features locking the same user never wait on
 * each other. A decimal string: pass it as `$1::bigint`.
 */
export function advisoryLockKey(namespace: string, id: string): string {
  return createHash('sha256')
    .update(`${namespace}\u0000${id}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}
