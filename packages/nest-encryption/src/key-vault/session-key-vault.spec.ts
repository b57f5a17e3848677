import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { SessionLockedError, VaultUnavailableError } from './key-vault.errors';
import { Keyring } from './keyring';
import { SessionKeyVault } from './session-key-vault';
import { MemoryVaultStore } from './stores/memory-vault-store';
import { FakeClock } from '../testing/fake-clock';
import {
  BEHAVIOUR_IDLE_TTL_SECONDS,
  BEHAVIOUR_MAX_TTL_SECONDS,
  describeSessionKeyVaultBehaviour,
  newSession,
} from '../../test/support/session-key-vault.behaviour';
import { VaultStore } from './vault-store';

describe('SessionKeyVault over the memory store', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger([
      'log',
      'error',
      'warn',
      'debug',
      'verbose',
      'fatal',
    ]);
  });

  describeSessionKeyVaultBehaviour(() => {
    const clock = new FakeClock();
    const store = new MemoryVaultStore({
      idleTtlMs: BEHAVIOUR_IDLE_TTL_SECONDS * 1000,
      maxTtlMs: BEHAVIOUR_MAX_TTL_SECONDS * 1000,
      maxEntries: 1000,
      sweepIntervalMs: 60_000,
      clock: clock.now,
    });
    const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
    return Promise.resolve({
      vault,
      elapse: (ms) => {
        clock.advance(ms);
        return Promise.resolve();
      },
      dumpStore: () =>
        Promise.resolve(
          store.sessionIds().flatMap((id) => {
            const entry = store.peek(id)!;
            return [Buffer.from(id), Buffer.from(entry.userId), entry.sealed];
          }),
        ),
      flipStoredByte: (sessionId, offset) => {
        const sealed = store.peek(sessionId)!.sealed;
        sealed[offset < 0 ? sealed.length + offset : offset] ^= 0x01;
        return Promise.resolve();
      },
      copyStoredEntry: (from, to, userId) =>
        store.put(to, userId, Buffer.from(store.peek(from)!.sealed)),
      close: () => vault.onApplicationShutdown(),
    });
  });
});

describe('SessionKeyVault', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest
      .spyOn(Logger.prototype, 'warn')
      .mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  function memoryStore(): MemoryVaultStore {
    return new MemoryVaultStore({
      idleTtlMs: 60_000,
      maxTtlMs: 600_000,
      maxEntries: 100,
      sweepIntervalMs: 60_000,
    });
  }

  /** A vault over a fresh memory store, holding one session with one key version. */
  async function vaultWithOneSession() {
    const vault = new SessionKeyVault(
      { vaultKey: randomBytes(32) },
      memoryStore(),
    );
    const session = newSession();
    await vault.store(
      session,
      new Keyring(session.userId, new Map([[1, randomBytes(32)]]), 1),
    );
    return { vault, session };
  }

  it('stores an entry of 88 bytes for one key version, 124 for two', async () => {
    const store = memoryStore();
    const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
    const one = newSession();
    const two = newSession();
    await vault.store(
      one,
      new Keyring(one.userId, new Map([[1, randomBytes(32)]]), 1),
    );
    await vault.store(
      two,
      new Keyring(
        two.userId,
        new Map([
          [1, randomBytes(32)],
          [2, randomBytes(32)],
        ]),
        2,
      ),
    );
    expect(store.peek(one.sessionId)?.sealed.length).toBe(88);
    expect(store.peek(two.sessionId)?.sealed.length).toBe(124);
    await vault.onApplicationShutdown();
  });

  it('tells its keyring-unlocked listeners of each login (opened) and each unlock, never of a re-store, a quiet unlock or a failed open', async () => {
    const vault = new SessionKeyVault(
      { vaultKey: randomBytes(32) },
      memoryStore(),
    );
    const session = newSession();
    const keys = new Map([
      [1, randomBytes(32)],
      [2, randomBytes(32)],
    ]);
    const seen: { occasion: string; userId: string; versions: number[] }[] = [];
    const unsubscribe = vault.onKeyringUnlocked(
      ({ occasion, session: { userId }, keyring }) =>
        seen.push({ occasion, userId, versions: [...keyring.versions] }),
    );

    await vault.open(session, new Keyring(session.userId, keys, 2));
    await vault.store(session, new Keyring(session.userId, keys, 2));
    (await vault.unlock(session)).zero();
    (await vault.unlock(session, { quiet: true })).zero();
    await expect(
      vault.unlock({ ...session, clientShare: randomBytes(16) }),
    ).rejects.toBeInstanceOf(SessionLockedError);
    unsubscribe();
    (await vault.unlock(session)).zero();

    expect(seen).toEqual([
      { occasion: 'opened', userId: session.userId, versions: [1, 2] },
      { occasion: 'unlocked', userId: session.userId, versions: [1, 2] },
    ]);
    await vault.onApplicationShutdown();
  });

  it('a listener that throws is logged and does not fail the unlock', async () => {
    const { vault, session } = await vaultWithOneSession();
    const after = jest.fn();
    vault.onKeyringUnlocked(() => {
      throw new TypeError('listener bug');
    });
    vault.onKeyringUnlocked(after);

    await expect(vault.unlock(session)).resolves.toBeInstanceOf(Keyring);
    expect(after).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      { userId: session.userId, err: { type: 'TypeError' } },
      'keyring-unlocked listener failed',
    );
    await vault.onApplicationShutdown();
  });

  it('logs a failed open as a warning that carries no secret', async () => {
    const { vault, session } = await vaultWithOneSession();
    const wrongShare = randomBytes(16);
    await expect(
      vault.unlock({ ...session, clientShare: wrongShare }),
    ).rejects.toBeInstanceOf(SessionLockedError);

    expect(warn).toHaveBeenCalledTimes(1);
    const logged = JSON.stringify(warn.mock.calls[0]);
    for (const secret of [session.clientShare, wrongShare]) {
      expect(logged).not.toContain(secret.toString('hex'));
      expect(logged).not.toContain(secret.toString('base64'));
    }
    expect(logged).not.toContain(session.sessionId);
    await vault.onApplicationShutdown();
  });

  it('turns every store failure into VaultUnavailableError, never a miss', async () => {
    const failure = () => Promise.reject(new Error('connection lost'));
    const broken: VaultStore = {
      put: failure,
      replace: failure,
      get: failure,
      delete: failure,
      deleteAllForUser: failure,
      ping: failure,
      close: () => Promise.resolve(),
    };
    const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, broken);
    const session = newSession();
    const keyring = new Keyring(
      session.userId,
      new Map([[1, randomBytes(32)]]),
      1,
    );

    await expect(vault.store(session, keyring)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    await expect(vault.replaceLive(session, keyring)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    await expect(vault.unlock(session)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    await expect(vault.revoke(session.sessionId)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    await expect(vault.revokeAllForUser(session.userId)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    await expect(vault.isAvailable()).resolves.toBe(false);
  });

  it('keeps its own copy of the vault key and zeroes only that one on shutdown', async () => {
    const vaultKey = randomBytes(32);
    const store = memoryStore();
    const vault = new SessionKeyVault({ vaultKey }, store);
    const session = newSession();
    await vault.store(
      session,
      new Keyring(session.userId, new Map([[1, randomBytes(32)]]), 1),
    );
    const sealed = store.peek(session.sessionId)!.sealed;

    vaultKey.fill(0x55); // the caller's buffer changing later does not affect the vault
    await expect(vault.unlock(session)).resolves.toBeInstanceOf(Keyring);

    await vault.onApplicationShutdown();
    await vault.onApplicationShutdown();
    expect(sealed.every((byte) => byte === 0)).toBe(true);
    expect(vaultKey.equals(Buffer.alloc(32, 0x55))).toBe(true);
    await expect(vault.unlock(session)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
  });

  it('rejects empty identifiers before touching the store', async () => {
    const vault = new SessionKeyVault(
      { vaultKey: randomBytes(32) },
      memoryStore(),
    );
    const keyring = new Keyring('', new Map([[1, randomBytes(32)]]), 1);
    await expect(
      vault.store(
        { sessionId: '', userId: '', clientShare: randomBytes(16) },
        keyring,
      ),
    ).rejects.toThrow(/non-empty/);
    await vault.onApplicationShutdown();
  });

  it('tells its observer how each unlock ended and which store operation failed', async () => {
    const unlocks: string[] = [];
    const failures: string[] = [];
    const observer = {
      unlockTimed: (seconds: number, outcome: string) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        unlocks.push(outcome);
      },
      storeFailed: (operation: string) => failures.push(operation),
    };
    const store = memoryStore();
    const vault = new SessionKeyVault(
      { vaultKey: randomBytes(32), observer },
      store,
    );
    const session = newSession();
    const keyring = new Keyring(
      session.userId,
      new Map([[1, randomBytes(32)]]),
      1,
    );
    await vault.store(session, keyring);
    (await vault.unlock(session)).zero();
    await vault.revoke(session.sessionId);
    await expect(vault.unlock(session)).rejects.toBeInstanceOf(
      SessionLockedError,
    );
    jest
      .spyOn(store, 'get')
      .mockRejectedValueOnce(new Error('connection lost'));
    await expect(vault.unlock(session)).rejects.toBeInstanceOf(
      VaultUnavailableError,
    );
    expect(unlocks).toEqual(['ok', 'locked', 'unavailable']);
    expect(failures).toEqual(['unlock']);
    await vault.onApplicationShutdown();
  });
});
