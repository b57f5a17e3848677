/**
 * Where sealed vault entries live between requests. A store only ever sees sealed bytes (see
 * `vault-entry.ts`): nothing it holds opens without the session's client share.
 *
 * Expiry is the store's job: an entry lives `idleTtlMs` after its last `put` or `get`, and never
 * longer than `maxTtlMs` after the `put` that created it. Every method rejects when the store
 * cannot answer (connection down, timeout); a rejection is never a miss.
 */
export interface VaultStore {
  /**
   * Creates or replaces the entry of `sessionId`. A replacement keeps the entry's absolute expiry
   * (a key rotation must not lengthen the session); an entry that has already expired is gone, so
   * storing again starts a new lifetime. Takes ownership of `sealed`.
   */
  put(sessionId: string, userId: string, sealed: Buffer): Promise<void>;

  /**
   * Replaces the entry of `sessionId` only while it is live and belongs to `userId`, keeping its
   * expiries; resolves whether it did. Never creates one: a session revoked or expired since its
   * keyring was read stays ended. Takes ownership of `sealed` (zeroed when not stored).
   */
  replace(sessionId: string, userId: string, sealed: Buffer): Promise<boolean>;

  /**
   * The sealed entry, with its idle expiry slid forward (never past the absolute one), or
   * `undefined` when there is none or it has expired. The returned Buffer belongs to the caller.
   */
  get(sessionId: string): Promise<Buffer | undefined>;

  /** Removes one entry; resolves whether there was one. */
  delete(sessionId: string): Promise<boolean>;

  /** Removes every entry of `userId` but `exceptSessionId`; resolves how many were removed. */
  deleteAllForUser(userId: string, exceptSessionId?: string): Promise<number>;

  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;

  /** Stops timers, zeroes what it holds, closes connections. Idempotent. */
  close(): Promise<void>;
}

/** Injection token of the `VaultStore` the module built from its options. */
export const VAULT_STORE = Symbol('VAULT_STORE');
