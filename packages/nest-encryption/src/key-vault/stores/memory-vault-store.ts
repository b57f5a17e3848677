import { zeroBuffer } from '../../crypto';
import { VaultStore } from '../vault-store';

export interface MemoryVaultStoreOptions {
  idleTtlMs: number;
  maxTtlMs: number;
  /** Beyond this many entries, the least recently used one is evicted. */
  maxEntries: number;
  sweepIntervalMs: number;
  clock?: () => number;
}

/** What the store keeps per session (readable through `peek` for inspection and tests). */
export interface MemoryVaultEntry {
  readonly userId: string;
  readonly sealed: Buffer;
  /** When the entry expires unless read again: min(last use + idle, absolute). */
  readonly expiresAt: number;
  readonly absoluteExpiresAt: number;
}

interface MutableEntry {
  userId: string;
  sealed: Buffer;
  expiresAt: number;
  absoluteExpiresAt: number;
}

/**
 * One process's vault: a Map kept in least-recently-used order (every read re-inserts its
 * entry at the end), so eviction when full takes the first key. Expired entries are removed on
 * read and by a periodic sweep; a per-user index keeps `deleteAllForUser` proportional to that
 * user's sessions. Every entry's bytes are zeroed when it leaves the store, however it leaves.
 */
/* eslint-disable @typescript-eslint/require-await -- the VaultStore methods are async with nothing to await so that a closed store rejects (assertOpen() throws), as the Redis store does */
export class MemoryVaultStore implements VaultStore {
  private readonly entries = new Map<string, MutableEntry>();
  private readonly sessionsByUser = new Map<string, Set<string>>();
  private readonly clock: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MemoryVaultStoreOptions) {
    this.clock = options.clock ?? Date.now;
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs);
    // The sweep alone must never keep the process alive.
    this.sweepTimer.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  async put(sessionId: string, userId: string, sealed: Buffer): Promise<void> {
    this.assertOpen();
    const now = this.clock();
    let absoluteExpiresAt = now + this.options.maxTtlMs;
    const existing = this.entries.get(sessionId);
    if (existing) {
      if (existing.expiresAt > now && existing.userId === userId)
        absoluteExpiresAt = existing.absoluteExpiresAt;
      this.remove(sessionId, existing);
    } else if (this.entries.size >= this.options.maxEntries) {
      this.evictLeastRecentlyUsed();
    }

    this.entries.set(sessionId, {
      userId,
      sealed,
      expiresAt: Math.min(now + this.options.idleTtlMs, absoluteExpiresAt),
      absoluteExpiresAt,
    });
    let sessions = this.sessionsByUser.get(userId);
    if (!sessions) this.sessionsByUser.set(userId, (sessions = new Set()));
    sessions.add(sessionId);
  }

  async replace(
    sessionId: string,
    userId: string,
    sealed: Buffer,
  ): Promise<boolean> {
    this.assertOpen();
    const entry = this.entries.get(sessionId);
    if (!entry || entry.userId !== userId || entry.expiresAt <= this.clock()) {
      zeroBuffer(sealed);
      return false;
    }
    zeroBuffer(entry.sealed);
    entry.sealed = sealed;
    return true;
  }

  async get(sessionId: string): Promise<Buffer | undefined> {
    this.assertOpen();
    const entry = this.entries.get(sessionId);
    if (!entry) return undefined;
    const now = this.clock();
    if (entry.expiresAt <= now) {
      this.remove(sessionId, entry);
      return undefined;
    }
    entry.expiresAt = Math.min(
      now + this.options.idleTtlMs,
      entry.absoluteExpiresAt,
    );
    this.entries.delete(sessionId);
    this.entries.set(sessionId, entry);
    // A copy: a concurrent put or revoke zeroes the stored bytes, and must not do it under a reader.
    return Buffer.from(entry.sealed);
  }

  async delete(sessionId: string): Promise<boolean> {
    this.assertOpen();
    const entry = this.entries.get(sessionId);
    if (!entry) return false;
    this.remove(sessionId, entry);
    return true;
  }

  async deleteAllForUser(
    userId: string,
    exceptSessionId?: string,
  ): Promise<number> {
    this.assertOpen();
    const sessions = this.sessionsByUser.get(userId);
    if (!sessions) return 0;
    const now = this.clock();
    let removed = 0;
    for (const sessionId of [...sessions]) {
      if (sessionId === exceptSessionId) continue;
      const entry = this.entries.get(sessionId) as MutableEntry;
      // An expired entry was already dead: it goes, but does not count as a revoked session.
      if (entry.expiresAt > now) removed++;
      this.remove(sessionId, entry);
    }
    return removed;
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  /** Removes every expired entry; runs on a timer, callable directly (tests). */
  sweep(): number {
    const now = this.clock();
    let removed = 0;
    for (const [sessionId, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.remove(sessionId, entry);
        removed++;
      }
    }
    return removed;
  }

  /** The stored entry as is, without sliding its expiry or copying it: inspection and tests only. */
  peek(sessionId: string): MemoryVaultEntry | undefined {
    return this.entries.get(sessionId);
  }

  /** Every session id held, least recently used first: inspection and tests only. */
  sessionIds(): string[] {
    return [...this.entries.keys()];
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const entry of this.entries.values()) zeroBuffer(entry.sealed);
    this.entries.clear();
    this.sessionsByUser.clear();
  }

  private evictLeastRecentlyUsed(): void {
    const first = this.entries.entries().next();
    if (!first.done) this.remove(first.value[0], first.value[1]);
  }

  private remove(sessionId: string, entry: MutableEntry): void {
    this.entries.delete(sessionId);
    const sessions = this.sessionsByUser.get(entry.userId);
    if (sessions) {
      sessions.delete(sessionId);
      if (sessions.size === 0) this.sessionsByUser.delete(entry.userId);
    }
    zeroBuffer(entry.sealed);
  }

  private assertOpen(): void {
    if (!this.sweepTimer) throw new Error('the memory vault store is closed');
  }
}
