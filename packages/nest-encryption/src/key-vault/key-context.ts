import { AsyncLocalStorage } from 'node:async_hooks';
import { KeyUnavailableError } from './key-vault.errors';
import { Keyring } from './keyring';

interface KeyScope {
  keyring?: Keyring;
  /** Set once the scope's request has ended: a keyring attached later is zeroed at once. */
  ended?: boolean;
}

const storage = new AsyncLocalStorage<KeyScope>();

/**
 * The current request's keys, found through AsyncLocalStorage so that deep code (the
 * `@EncryptedColumn` transformer) needs no parameter threading. A scope is opened per request
 * (`KeyContextMiddleware`), the auth guard attaches the session's keyring to it, and the keyring
 * is zeroed when the response ends.
 */
export const KeyContext = {
  /** Runs `fn` in a fresh, empty scope (one per request). */
  runInScope<T>(fn: () => T): T {
    return storage.run({}, fn);
  },

  /**
   * Runs `fn` with `keyring` as the current keys (jobs, tests), and zeroes the keyring once
   * `fn` has settled.
   */
  async runWithKeyring<T>(
    keyring: Keyring,
    fn: () => Promise<T> | T,
  ): Promise<T> {
    return storage.run({ keyring }, async () => {
      try {
        return await fn();
      } finally {
        keyring.zero();
      }
    });
  },

  /** Makes `keyring` the current scope's keys. Throws outside a scope: a keyring must never leak. */
  attach(keyring: Keyring): void {
    const scope = storage.getStore();
    if (!scope) throw new Error('KeyContext.attach called outside a key scope');
    if (scope.ended) {
      // Late work of a finished request (nothing would ever release these keys).
      keyring.zero();
      throw new Error('KeyContext.attach called after the key scope ended');
    }
    scope.keyring?.zero();
    scope.keyring = keyring;
  },

  /** Zeroes and detaches the current scope's keyring, if any. */
  release(): void {
    const scope = storage.getStore();
    scope?.keyring?.zero();
    if (scope) scope.keyring = undefined;
  },

  /**
   * A function that ends the current scope: zeroes and detaches its keyring, and refuses later
   * attaches. Bound to the scope itself, not to whatever async context calls it — event listeners
   * (`res.on('finish')`) run in the emitter's context, where `release()` would find another
   * scope or none.
   */
  scopeReleaser(): () => void {
    const scope = storage.getStore();
    if (!scope)
      throw new Error('KeyContext.scopeReleaser called outside a key scope');
    return () => {
      scope.ended = true;
      scope.keyring?.zero();
      scope.keyring = undefined;
    };
  },

  current(): Keyring | undefined {
    const keyring = storage.getStore()?.keyring;
    return keyring && !keyring.isZeroed ? keyring : undefined;
  },

  /** The current keyring, or `KeyUnavailableError` (never a silent miss). */
  require(): Keyring {
    const keyring = KeyContext.current();
    if (!keyring) throw new KeyUnavailableError();
    return keyring;
  },
};
