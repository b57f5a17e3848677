import { createHash } from 'node:crypto';

/**
 * A 64-bit PostgreSQL advisory lock id for `id` (an owner id) in its own `namespace`: the
 * library's `key-rotation` and `plaintext-adoption`, and an app's own (exported from `.`), so that
 * two features locking the same owner never wait on each other. A decimal string: pass it as
 * `$1::bigint`.
 */
export function advisoryLockKey(namespace: string, id: string): string {
  return createHash('sha256')
    .update(`${namespace}\u0000${id}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}
