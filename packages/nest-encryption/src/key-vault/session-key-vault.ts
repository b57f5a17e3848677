import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
} from '@nestjs/common';
import { secureCopy, zeroBuffer } from '../crypto';
import { SessionLockedError, VaultUnavailableError } from './key-vault.errors';
import { performance } from 'node:perf_hooks';
import {
  KeyVaultObserver,
  RESOLVED_KEY_VAULT_OPTIONS,
  ResolvedKeyVaultOptions,
} from './key-vault.options';
import { Keyring } from './keyring';
import { StoreOutageLog } from '../redis/store-outage-log';
import { VAULT_STORE, VaultStore } from './vault-store';
import { openVaultEntry, sealVaultEntry, VaultSession } from './vault-entry';

/**
 * A session's keyring is in hand: `opened` when a login stores it for a new session, `unlocked`
 * when a request opens the session's entry (not a `quiet` unlock: a refresh, a prune). The keyring is the caller's and is
 * zeroed soon after: a listener that needs it later takes `keyring.copy()` at once; the same holds
 * for `session.clientShare` (copy it with `Buffer.from`).
 */
export interface KeyringUnlocked {
  occasion: 'opened' | 'unlocked';
  session: VaultSession;
  keyring: Keyring;
}

/** Called synchronously; must not throw or block (start background work and return). */
export type KeyringUnlockedListener = (event: KeyringUnlocked) => void;

export interface UnlockOptions {
  /**
   * Checks that the entry is live (and slides its expiry) without telling the keyring-unlocked
   * listeners: for a refresh, or for key rotation's own check before it re-stores an entry.
   */
  quiet?: boolean;
}

export interface RevokeAllOptions {
  /** The session to keep (e.g. the one that just changed the password). */
  exceptSessionId?: string;
}

/**
 * The session key vault (docs/design.md#the-vault): keeps each live session's keyring between
 * requests, sealed under a key that needs the client's share, and gives it back per request.
 *
 * Fails closed: a missing, expired or unopenable entry is `SessionLockedError` (401, log in
 * again); a store that cannot answer is `VaultUnavailableError` (503) — never a silent miss and
 * never a fallback to another store.
 */
@Injectable()
export class SessionKeyVault implements OnApplicationShutdown {
  private readonly logger = new Logger(SessionKeyVault.name);
  /** Our own copy in locked memory, wiped on shutdown; the caller keeps the one it passed. */
  private readonly vaultKey: Buffer;
  private closed = false;
  /** The store's outages, logged once each (and their end). */
  private readonly storeOutage = new StoreOutageLog(this.logger, {
    down: (reason, during) =>
      `vault store failed during ${during} (${reason}): requests that need keys answer 503 until it answers`,
    up: 'vault store answering again',
  });
  private readonly listeners = new Set<KeyringUnlockedListener>();
  private readonly observer: KeyVaultObserver;

  constructor(
    @Inject(RESOLVED_KEY_VAULT_OPTIONS)
    options: Pick<ResolvedKeyVaultOptions, 'vaultKey'> &
      Partial<Pick<ResolvedKeyVaultOptions, 'observer'>>,
    @Inject(VAULT_STORE) private readonly entryStore: VaultStore,
  ) {
    this.vaultKey = secureCopy(options.vaultKey);
    this.observer = options.observer ?? {};
  }

  /**
   * Subscribes to every keyring this vault opens or unlocks (key rotation resumes unfinished work
   * from here, so authentication need not know it exists).
   * @returns a function that unsubscribes.
   */
  onKeyringUnlocked(listener: KeyringUnlockedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stores the keyring of a session that a login has just opened, and tells the
   * `onKeyringUnlocked` listeners. @throws VaultUnavailableError
   */
  async open(session: VaultSession, keyring: Keyring): Promise<void> {
    await this.store(session, keyring);
    this.notify({ occasion: 'opened', session, keyring });
  }

  /**
   * Seals `keyring` for the session and stores it. Storing again for a live session (e.g. after a
   * rotation added a key version) replaces its entry and keeps its absolute expiry; once an entry
   * has expired, storing starts a new lifetime: to re-seal an existing session, use `replaceLive`.
   * @throws VaultUnavailableError when the store cannot answer.
   */
  async store(session: VaultSession, keyring: Keyring): Promise<void> {
    assertIdentifiers(session.sessionId, session.userId);
    const sealed = sealVaultEntry(keyring, session, this.vaultKey);
    await this.callStore('store', () =>
      this.entryStore.put(session.sessionId, session.userId, sealed),
    );
  }

  /**
   * Re-seals the keyring of a session that is still live (a rotation added or pruned a key
   * version), keeping its expiries; resolves false, storing nothing, when the session has ended
   * since its keyring was read: a logout or revocation racing with a rotation is never undone.
   * @throws VaultUnavailableError when the store cannot answer.
   */
  async replaceLive(session: VaultSession, keyring: Keyring): Promise<boolean> {
    assertIdentifiers(session.sessionId, session.userId);
    const sealed = sealVaultEntry(keyring, session, this.vaultKey);
    return this.callStore('replaceLive', () =>
      this.entryStore.replace(session.sessionId, session.userId, sealed),
    );
  }

  /**
   * The session's keyring (a new one per call: zero it when done — `KeyContext` does), sliding
   * the entry's idle expiry.
   * @throws SessionLockedError when the entry is missing, expired, or does not open with this
   *   client share, session and user.
   * @throws VaultUnavailableError when the store cannot answer.
   */
  async unlock(
    session: VaultSession,
    options: UnlockOptions = {},
  ): Promise<Keyring> {
    const started = performance.now();
    const timed = (outcome: 'ok' | 'locked' | 'unavailable') =>
      this.observer.unlockTimed?.(
        (performance.now() - started) / 1000,
        outcome,
      );
    let keyring: Keyring;
    try {
      keyring = await this.openEntry(session);
    } catch (error) {
      timed(error instanceof SessionLockedError ? 'locked' : 'unavailable');
      throw error;
    }
    timed('ok');
    if (!options.quiet) this.notify({ occasion: 'unlocked', session, keyring });
    return keyring;
  }

  private async openEntry(session: VaultSession): Promise<Keyring> {
    const sealed = await this.callStore('unlock', () =>
      this.entryStore.get(session.sessionId),
    );
    if (!sealed) throw new SessionLockedError();
    let keyring: Keyring;
    try {
      keyring = openVaultEntry(sealed, session, this.vaultKey);
    } catch (error) {
      // A forged or stale token, an entry of another user, or altered store contents.
      this.logger.warn(
        { userId: session.userId, reason: (error as Error).name },
        'vault entry failed to open; session treated as locked',
      );
      throw new SessionLockedError();
    } finally {
      zeroBuffer(sealed);
    }
    return keyring;
  }

  /** Deletes the session's entry at once (logout). @throws VaultUnavailableError */
  async revoke(sessionId: string): Promise<void> {
    await this.callStore('revoke', () => this.entryStore.delete(sessionId));
  }

  /**
   * Deletes every entry of the user but `exceptSessionId` (password change, recovery, rotation,
   * account deletion), and resolves how many live sessions were revoked.
   * @throws VaultUnavailableError
   */
  async revokeAllForUser(
    userId: string,
    options: RevokeAllOptions = {},
  ): Promise<number> {
    return this.callStore('revokeAllForUser', () =>
      this.entryStore.deleteAllForUser(userId, options.exceptSessionId),
    );
  }

  /** Whether the store answers now (readiness checks). Never throws. */
  async isAvailable(): Promise<boolean> {
    try {
      await this.entryStore.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the store (stopping its timers, zeroing what it holds) and zeroes the vault key. */
  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.entryStore.close();
    } finally {
      zeroBuffer(this.vaultKey);
    }
  }

  /** A listener's failure is logged and never fails the request that unlocked the keyring. */
  private notify(event: KeyringUnlocked): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn(
          {
            userId: event.session.userId,
            err: { type: (error as Error)?.name },
          },
          'keyring-unlocked listener failed',
        );
      }
    }
  }

  /**
   * Runs one store operation; a failure becomes VaultUnavailableError (503). One log line when
   * the store starts failing and one when it answers again, not one per request.
   */
  private async callStore<T>(
    operation: string,
    call: () => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await call();
    } catch (error) {
      this.storeOutage.failed(error, operation);
      this.observer.storeFailed?.(operation);
      throw new VaultUnavailableError();
    }
    this.storeOutage.answered();
    return result;
  }
}

function assertIdentifiers(sessionId: string, userId: string): void {
  if (
    typeof sessionId !== 'string' ||
    sessionId.length === 0 ||
    typeof userId !== 'string' ||
    userId.length === 0
  ) {
    throw new Error(
      'SessionKeyVault: sessionId and userId must be non-empty strings',
    );
  }
}
