// Test-only helper; the reference lets `nest build` (types: node) compile it. Nothing in the app imports it.
/// <reference types="jest" />
import { randomBytes } from 'node:crypto';
import { SessionLockedError } from '../../src/key-vault/key-vault.errors';
import { Keyring } from '../../src/key-vault/keyring';
import { SessionKeyVault } from '../../src/key-vault/session-key-vault';
import { VaultSession } from '../../src/key-vault/vault-entry';

/** The TTLs every behavioural run uses (seconds). */
export const BEHAVIOUR_IDLE_TTL_SECONDS = 60;
export const BEHAVIOUR_MAX_TTL_SECONDS = 300;

/** A vault over one store, plus the access to that store a test needs to look underneath. */
export interface VaultUnderTest {
  vault: SessionKeyVault;
  /** Lets `ms` pass for the vault and for the store's own expiry. */
  elapse(ms: number): Promise<void>;
  /** Every byte the store holds (entries, indexes, key names). */
  dumpStore(): Promise<Buffer[]>;
  /** Flips one bit of the byte at `offset` of the session's stored entry. */
  flipStoredByte(sessionId: string, offset: number): Promise<void>;
  /** Stores a byte-for-byte copy of one session's entry under another session id. */
  copyStoredEntry(
    fromSessionId: string,
    toSessionId: string,
    userId: string,
  ): Promise<void>;
  close(): Promise<void>;
}

/**
 * The behaviour every store must give `SessionKeyVault` (docs/design.md#vault-stores), run once
 * per store. `create` is called before each test with fresh state (e.g. a new key prefix).
 */
export function describeSessionKeyVaultBehaviour(
  create: () => Promise<VaultUnderTest>,
): void {
  const idleMs = BEHAVIOUR_IDLE_TTL_SECONDS * 1000;
  const maxMs = BEHAVIOUR_MAX_TTL_SECONDS * 1000;
  let subject: VaultUnderTest;
  let vault: SessionKeyVault;

  beforeEach(async () => {
    subject = await create();
    vault = subject.vault;
  });
  afterEach(() => subject.close());

  it('round-trips a keyring: same keys, same versions, same active version', async () => {
    const session = newSession();
    const keys = new Map([
      [3, randomBytes(32)],
      [4, randomBytes(32)],
    ]);
    await vault.store(session, new Keyring(session.userId, copyKeys(keys), 4));

    const keyring = await vault.unlock(session);
    expect(keyring.userId).toBe(session.userId);
    expect(keyring.activeVersion).toBe(4);
    expect(keyring.versions.sort()).toEqual([3, 4]);
    expect(keyring.key(3)?.equals(keys.get(3) as Buffer)).toBe(true);
    expect(keyring.activeKey().equals(keys.get(4) as Buffer)).toBe(true);
  });

  it('gives a new keyring per unlock: zeroing one leaves the next intact', async () => {
    const session = newSession();
    const key = randomBytes(32);
    await vault.store(
      session,
      new Keyring(session.userId, new Map([[1, Buffer.from(key)]]), 1),
    );
    (await vault.unlock(session)).zero();
    expect((await vault.unlock(session)).activeKey().equals(key)).toBe(true);
  });

  it('refuses a wrong client share', async () => {
    const session = await storedSession();
    await expectLocked(
      vault.unlock({ ...session, clientShare: randomBytes(32) }),
    );
  });

  it('refuses a client share that is too short to be one', async () => {
    const session = await storedSession();
    await expectLocked(
      vault.unlock({
        ...session,
        clientShare: session.clientShare.subarray(0, 8),
      }),
    );
  });

  it("refuses another user's claim on the session", async () => {
    const session = await storedSession();
    await expectLocked(vault.unlock({ ...session, userId: 'another-user' }));
  });

  it("refuses a session's entry copied under another session id", async () => {
    const session = await storedSession();
    const otherSessionId = randomBytes(16).toString('base64url');
    await subject.copyStoredEntry(
      session.sessionId,
      otherSessionId,
      session.userId,
    );
    await expectLocked(vault.unlock({ ...session, sessionId: otherSessionId }));
    // The original still opens: the test changed nothing but the id.
    await expect(vault.unlock(session)).resolves.toBeInstanceOf(Keyring);
  });

  it.each([
    ['format byte', 0],
    ['algorithm byte', 1],
    ['version field', 5],
    ['nonce', 10],
    ['ciphertext', 40],
    ['tag', -1],
  ])('refuses an entry with a flipped bit in its %s', async (_part, offset) => {
    const session = await storedSession();
    await subject.flipStoredByte(session.sessionId, offset);
    await expectLocked(vault.unlock(session));
  });

  it('refuses a session that was never stored', async () => {
    await expectLocked(vault.unlock(newSession()));
  });

  it('refuses a revoked session, and revoking twice is harmless', async () => {
    const session = await storedSession();
    await vault.revoke(session.sessionId);
    await expectLocked(vault.unlock(session));
    await expect(vault.revoke(session.sessionId)).resolves.toBeUndefined();
  });

  it('slides the idle expiry on each unlock', async () => {
    const session = await storedSession();
    for (let step = 0; step < 4; step++) {
      await subject.elapse(idleMs - 5_000);
      await expect(vault.unlock(session)).resolves.toBeInstanceOf(Keyring);
    }
    await subject.elapse(idleMs + 1);
    await expectLocked(vault.unlock(session));
  });

  it('never lets sliding pass the absolute expiry', async () => {
    const session = await storedSession();
    let elapsed = 0;
    while (elapsed + idleMs / 2 < maxMs) {
      await subject.elapse(idleMs / 2);
      elapsed += idleMs / 2;
      await expect(vault.unlock(session)).resolves.toBeInstanceOf(Keyring);
    }
    await subject.elapse(maxMs - elapsed);
    await expectLocked(vault.unlock(session));
  });

  it('keeps the original absolute expiry when a session is stored again (rotation)', async () => {
    const session = await storedSession();
    await subject.elapse(idleMs / 2);
    await vault.unlock(session);
    await vault.store(session, twoVersionKeyring(session));
    expect((await vault.unlock(session)).activeVersion).toBe(2);

    await expectEndsAtAbsoluteExpiry(session, idleMs / 2);
  });

  it("revokes all of a user's sessions but the one asked to keep, and nobody else's", async () => {
    const userId = `user-${randomBytes(4).toString('hex')}`;
    const [kept, second, third] = [
      await storedSession(userId),
      await storedSession(userId),
      await storedSession(userId),
    ];
    const bystander = await storedSession();

    await expect(
      vault.revokeAllForUser(userId, { exceptSessionId: kept.sessionId }),
    ).resolves.toBe(2);

    await expect(vault.unlock(kept)).resolves.toBeInstanceOf(Keyring);
    await expectLocked(vault.unlock(second));
    await expectLocked(vault.unlock(third));
    await expect(vault.unlock(bystander)).resolves.toBeInstanceOf(Keyring);

    await expect(vault.revokeAllForUser(userId)).resolves.toBe(1);
    await expectLocked(vault.unlock(kept));
    await expect(vault.revokeAllForUser(userId)).resolves.toBe(0);
  });

  it('does not count already-expired sessions as revoked', async () => {
    const userId = `user-${randomBytes(4).toString('hex')}`;
    await storedSession(userId);
    await subject.elapse(idleMs + 1);
    const live = await storedSession(userId);
    await expect(vault.revokeAllForUser(userId)).resolves.toBe(1);
    await expectLocked(vault.unlock(live));
  });

  it('holds no data key, nor any 8-byte piece of one, anywhere in the store', async () => {
    const dataKeys: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      const session = newSession(i < 3 ? 'shared-user' : undefined);
      const keys = new Map([
        [1, randomBytes(32)],
        [2, randomBytes(32)],
      ]);
      dataKeys.push(...keys.values());
      await vault.store(
        session,
        new Keyring(session.userId, copyKeys(keys), 2),
      );
      await vault.unlock(session);
    }
    const dump = Buffer.concat(await subject.dumpStore());
    expect(dump.length).toBeGreaterThan(6 * 88);
    for (const dataKey of dataKeys) {
      expect(dump.indexOf(dataKey)).toBe(-1);
      for (let start = 0; start + 8 <= dataKey.length; start++) {
        expect(dump.indexOf(dataKey.subarray(start, start + 8))).toBe(-1);
      }
    }
  });

  it('replaceLive re-seals a live session and keeps its absolute expiry', async () => {
    const session = await storedSession();
    await subject.elapse(idleMs / 2);
    await expect(
      vault.replaceLive(session, twoVersionKeyring(session)),
    ).resolves.toBe(true);
    expect((await vault.unlock(session)).activeVersion).toBe(2);

    await expectEndsAtAbsoluteExpiry(session, idleMs / 2);
  });

  it('replaceLive never brings back a session revoked or expired since its keyring was read', async () => {
    const revoked = await storedSession();
    (await vault.unlock(revoked)).zero();
    await vault.revoke(revoked.sessionId);
    await expect(
      vault.replaceLive(revoked, twoVersionKeyring(revoked)),
    ).resolves.toBe(false);
    await expectLocked(vault.unlock(revoked));

    const expired = await storedSession();
    await subject.elapse(idleMs + 1000);
    await expect(
      vault.replaceLive(expired, twoVersionKeyring(expired)),
    ).resolves.toBe(false);
    await expectLocked(vault.unlock(expired));

    const never = newSession();
    await expect(
      vault.replaceLive(never, twoVersionKeyring(never)),
    ).resolves.toBe(false);
    await expectLocked(vault.unlock(never));
  });

  it("replaceLive does not overwrite another user's entry under the same session id", async () => {
    const victim = await storedSession();
    const attacker = { ...newSession(), sessionId: victim.sessionId };
    await expect(
      vault.replaceLive(attacker, twoVersionKeyring(attacker)),
    ).resolves.toBe(false);
    expect((await vault.unlock(victim)).activeVersion).toBe(1);
  });

  it('refuses to store a keyring of another user', async () => {
    const session = newSession();
    await expect(
      vault.store(
        session,
        new Keyring('someone-else', new Map([[1, randomBytes(32)]]), 1),
      ),
    ).rejects.toThrow(/another user/);
    await expectLocked(vault.unlock(session));
  });

  it('reports the store available', async () => {
    await expect(vault.isAvailable()).resolves.toBe(true);
  });

  /** Kept in use, the session still ends `maxMs` after it began (`elapsed` ago). */
  async function expectEndsAtAbsoluteExpiry(
    session: VaultSession,
    elapsed: number,
  ): Promise<void> {
    while (elapsed + idleMs / 2 < maxMs) {
      await subject.elapse(idleMs / 2);
      elapsed += idleMs / 2;
      await vault.unlock(session);
    }
    await subject.elapse(maxMs - elapsed);
    await expectLocked(vault.unlock(session));
  }

  function twoVersionKeyring(session: VaultSession): Keyring {
    return new Keyring(
      session.userId,
      new Map([
        [1, randomBytes(32)],
        [2, randomBytes(32)],
      ]),
      2,
    );
  }

  async function storedSession(userId?: string): Promise<VaultSession> {
    const session = newSession(userId);
    await vault.store(
      session,
      new Keyring(session.userId, new Map([[1, randomBytes(32)]]), 1),
    );
    return session;
  }
}

export function newSession(
  userId = `user-${randomBytes(6).toString('hex')}`,
): VaultSession {
  return {
    sessionId: randomBytes(16).toString('base64url'),
    userId,
    clientShare: randomBytes(16),
  };
}

export async function expectLocked(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(SessionLockedError);
}

function copyKeys(keys: Map<number, Buffer>): Map<number, Buffer> {
  return new Map(
    [...keys].map(([version, key]) => [version, Buffer.from(key)]),
  );
}
