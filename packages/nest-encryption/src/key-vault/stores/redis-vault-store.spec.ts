import { Logger } from '@nestjs/common';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { findFreePort } from '../../internal/find-free-port';
import { redactUrlPassword } from '../../internal/redact-url-password';
import { VaultUnavailableError } from '../key-vault.errors';
import { Keyring } from '../keyring';
import { SessionKeyVault } from '../session-key-vault';
import { FakeClock } from '../../testing/fake-clock';
import { probeRedisSync } from '../../testing/redis-probe';
import {
  BEHAVIOUR_IDLE_TTL_SECONDS,
  BEHAVIOUR_MAX_TTL_SECONDS,
  describeSessionKeyVaultBehaviour,
  expectLocked,
  newSession,
  VaultUnderTest,
} from '../../../test/support/session-key-vault.behaviour';
import { FakeRedisServer } from '../../testing/fake-redis-server';
import { RedisVaultStore } from './redis-vault-store';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = probeRedisSync(REDIS_URL);
if (!redis.reachable) {
  console.warn(
    `Redis tests skipped: no Redis at ${redactUrlPassword(REDIS_URL)} (${redis.reason})`,
  );
}
const describeWithRedis = redis.reachable ? describe : describe.skip;

const IDLE_MS = BEHAVIOUR_IDLE_TTL_SECONDS * 1000;
const MAX_MS = BEHAVIOUR_MAX_TTL_SECONDS * 1000;

beforeAll(() => {
  Logger.overrideLogger(false);
});
afterAll(() => {
  Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
});

describeWithRedis(
  `SessionKeyVault over the Redis store (real Redis at ${redactUrlPassword(REDIS_URL)})`,
  () => {
    let admin: Redis;
    beforeAll(() => {
      admin = new Redis(REDIS_URL);
    });
    afterAll(() => admin.quit());

    /** A vault over a store with a key prefix of its own, and everything a test needs around it. */
    async function createRedisVault(
      options: { idleTtlMs?: number; maxTtlMs?: number } = {},
    ): Promise<
      VaultUnderTest & {
        store: RedisVaultStore;
        prefix: string;
        clock: FakeClock;
      }
    > {
      const prefix = `test:vault:${randomBytes(6).toString('hex')}:`;
      const clock = new FakeClock(Date.now());
      const store = new RedisVaultStore({
        url: REDIS_URL,
        keyPrefix: prefix,
        commandTimeoutMs: 1000,
        idleTtlMs: options.idleTtlMs ?? IDLE_MS,
        maxTtlMs: options.maxTtlMs ?? MAX_MS,
        clock: clock.now,
      });
      expect(await store.waitUntilReady(3000)).toBe(true);
      const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
      return {
        vault,
        store,
        prefix,
        clock,
        elapse: async (ms) => {
          clock.advance(ms);
          await elapseKeyTtls(prefix, ms);
        },
        dumpStore: () => dumpKeys(prefix),
        flipStoredByte: async (sessionId, offset) => {
          const key = `${prefix}s:${sessionId}`;
          const sealed = (await admin.hgetBuffer(key, 'e')) as Buffer;
          sealed[offset < 0 ? sealed.length + offset : offset] ^= 0x01;
          await admin.hset(key, 'e', sealed);
        },
        copyStoredEntry: async (from, to, userId) => {
          await admin.copy(`${prefix}s:${from}`, `${prefix}s:${to}`);
          await admin.sadd(`${prefix}u:${userId}`, to);
        },
        close: async () => {
          await vault.onApplicationShutdown();
          await deleteKeys(prefix);
        },
      };
    }

    /** Time passing, as Redis sees it: every key's TTL shortens by `ms`. */
    async function elapseKeyTtls(prefix: string, ms: number): Promise<void> {
      for (const key of await admin.keys(`${prefix}*`)) {
        const ttl = await admin.pttl(key);
        if (ttl < 0) continue;
        if (ttl <= ms) await admin.del(key);
        else await admin.pexpire(key, ttl - ms);
      }
    }

    /** `KEYS prefix*`: every key name and every byte of every value. */
    async function dumpKeys(prefix: string): Promise<Buffer[]> {
      const dump: Buffer[] = [];
      for (const key of await admin.keysBuffer(`${prefix}*`)) {
        dump.push(key);
        const type = await admin.type(key);
        if (type === 'hash') {
          const fields = await admin.hgetallBuffer(key);
          for (const [field, value] of Object.entries(fields))
            dump.push(Buffer.from(field), value);
        } else if (type === 'set') {
          dump.push(...(await admin.smembersBuffer(key)));
        } else {
          throw new Error(`unexpected ${type} key in the vault's key space`);
        }
      }
      return dump;
    }

    async function deleteKeys(prefix: string): Promise<void> {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    }

    describe('behaviour', () => {
      describeSessionKeyVaultBehaviour(() => createRedisVault());
    });

    describe('layout and expiry in Redis', () => {
      let subject: Awaited<ReturnType<typeof createRedisVault>>;
      beforeEach(async () => {
        subject = await createRedisVault();
      });
      afterEach(() => subject.close());

      async function storeSession(userId?: string) {
        const session = newSession(userId);
        await subject.vault.store(
          session,
          new Keyring(session.userId, new Map([[1, randomBytes(32)]]), 1),
        );
        return session;
      }

      it('keeps one hash per session and one index set per user, both with a TTL', async () => {
        const session = await storeSession();
        const sessionKey = `${subject.prefix}s:${session.sessionId}`;
        const userKey = `${subject.prefix}u:${session.userId}`;

        expect((await admin.keys(`${subject.prefix}*`)).sort()).toEqual(
          [sessionKey, userKey].sort(),
        );
        const entryTtl = await admin.pttl(sessionKey);
        expect(entryTtl).toBeGreaterThan(0);
        expect(entryTtl).toBeLessThanOrEqual(IDLE_MS);
        const indexTtl = await admin.pttl(userKey);
        expect(indexTtl).toBeGreaterThan(IDLE_MS);
        expect(indexTtl).toBeLessThanOrEqual(MAX_MS);
        await expect(admin.smembers(userKey)).resolves.toEqual([
          session.sessionId,
        ]);
        expect(Number(await admin.hget(sessionKey, 'x'))).toBe(
          subject.clock.now() + MAX_MS,
        );
        expect((await admin.hgetBuffer(sessionKey, 'e'))?.length).toBe(88);
      });

      it('uses well under 1 KiB of Redis memory per session', async () => {
        const session = await storeSession(randomBytes(16).toString('hex'));
        const entryBytes = (await admin.memory(
          'USAGE',
          `${subject.prefix}s:${session.sessionId}`,
        )) as number;
        const indexBytes = (await admin.memory(
          'USAGE',
          `${subject.prefix}u:${session.userId}`,
        )) as number;
        expect(entryBytes + indexBytes).toBeLessThanOrEqual(1024);
      });

      it('slides the TTL back to the idle time on unlock', async () => {
        const session = await storeSession();
        const sessionKey = `${subject.prefix}s:${session.sessionId}`;
        await admin.pexpire(sessionKey, 5_000);
        subject.clock.advance(IDLE_MS - 5_000);

        await subject.vault.unlock(session);
        expect(await admin.pttl(sessionKey)).toBeGreaterThan(IDLE_MS - 1_000);
      });

      it('caps the TTL at the absolute expiry, then deletes the entry once it has passed', async () => {
        const session = await storeSession();
        const sessionKey = `${subject.prefix}s:${session.sessionId}`;
        subject.clock.advance(MAX_MS - 10_000);

        await subject.vault.unlock(session);
        const ttl = await admin.pttl(sessionKey);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(10_000);

        subject.clock.advance(10_000);
        await expectLocked(subject.vault.unlock(session));
        await expect(admin.exists(sessionKey)).resolves.toBe(0);
        await expect(
          admin.smembers(`${subject.prefix}u:${session.userId}`),
        ).resolves.toEqual([]);
      });

      it('keeps the absolute expiry when a session is stored again', async () => {
        const session = await storeSession();
        const sessionKey = `${subject.prefix}s:${session.sessionId}`;
        const absolute = await admin.hget(sessionKey, 'x');
        subject.clock.advance(30_000);
        await subject.vault.store(
          session,
          new Keyring(
            session.userId,
            new Map([
              [1, randomBytes(32)],
              [2, randomBytes(32)],
            ]),
            2,
          ),
        );
        await expect(admin.hget(sessionKey, 'x')).resolves.toBe(absolute);
        expect((await admin.hgetBuffer(sessionKey, 'e'))?.length).toBe(124);
      });

      it('removes a revoked session from its user index', async () => {
        const session = await storeSession();
        await subject.vault.revoke(session.sessionId);
        await expect(admin.keys(`${subject.prefix}*`)).resolves.toEqual([]);
      });

      it('prunes index members whose entries Redis has expired', async () => {
        const userId = `user-${randomBytes(4).toString('hex')}`;
        const gone = await storeSession(userId);
        await admin.del(`${subject.prefix}s:${gone.sessionId}`); // what Redis does at the TTL
        const live = await storeSession(userId);
        await expect(
          admin.smembers(`${subject.prefix}u:${userId}`),
        ).resolves.toEqual([live.sessionId]);
      });

      it("revokes all of a user's sessions in Redis, keeping the excepted one", async () => {
        const userId = `user-${randomBytes(4).toString('hex')}`;
        const [keep, drop1, drop2] = [
          await storeSession(userId),
          await storeSession(userId),
          await storeSession(userId),
        ];
        const other = await storeSession();
        await expect(
          subject.vault.revokeAllForUser(userId, {
            exceptSessionId: keep.sessionId,
          }),
        ).resolves.toBe(2);
        for (const dropped of [drop1, drop2]) {
          await expect(
            admin.exists(`${subject.prefix}s:${dropped.sessionId}`),
          ).resolves.toBe(0);
        }
        await expect(
          admin.smembers(`${subject.prefix}u:${userId}`),
        ).resolves.toEqual([keep.sessionId]);
        await expect(
          admin.exists(`${subject.prefix}s:${other.sessionId}`),
        ).resolves.toBe(1);
      });
    });

    it('lets Redis itself drop an idle session when its TTL runs out (real time)', async () => {
      const subject = await createRedisVault({
        idleTtlMs: 300,
        maxTtlMs: 10_000,
      });
      try {
        const session = newSession();
        await subject.vault.store(
          session,
          new Keyring(session.userId, new Map([[1, randomBytes(32)]]), 1),
        );
        await expect(subject.vault.unlock(session)).resolves.toBeInstanceOf(
          Keyring,
        );
        await new Promise((resolve) => setTimeout(resolve, 450));
        await expectLocked(subject.vault.unlock(session));
      } finally {
        await subject.close();
      }
    });
  },
);

describe('SessionKeyVault over an unreachable Redis (fail closed)', () => {
  const session = newSession();
  const keyring = () =>
    new Keyring(session.userId, new Map([[1, randomBytes(32)]]), 1);

  async function expectUnavailableQuickly(
    operation: Promise<unknown>,
  ): Promise<void> {
    const started = Date.now();
    await expect(operation).rejects.toBeInstanceOf(VaultUnavailableError);
    expect(Date.now() - started).toBeLessThan(2_000);
  }

  it('rejects every operation with VaultUnavailableError at once when nothing listens', async () => {
    const port = await findFreePort();
    const store = new RedisVaultStore({
      url: `redis://127.0.0.1:${port}`,
      keyPrefix: 'vault:',
      commandTimeoutMs: 500,
      idleTtlMs: IDLE_MS,
      maxTtlMs: MAX_MS,
    });
    const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
    try {
      await expectUnavailableQuickly(vault.unlock(session));
      await expectUnavailableQuickly(vault.store(session, keyring()));
      await expectUnavailableQuickly(vault.revoke(session.sessionId));
      await expectUnavailableQuickly(vault.revokeAllForUser(session.userId));
      await expect(vault.isAvailable()).resolves.toBe(false);
    } finally {
      await vault.onApplicationShutdown();
    }
  });

  it('times out against a Redis that accepts commands but never answers', async () => {
    // Answers the connection handshake, never a script.
    const hanging = new FakeRedisServer({
      answers: ['info', 'ping', 'client', 'select', 'auth'],
    });
    const url = await hanging.start();
    const store = new RedisVaultStore({
      url,
      keyPrefix: 'vault:',
      commandTimeoutMs: 300,
      idleTtlMs: IDLE_MS,
      maxTtlMs: MAX_MS,
    });
    const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
    try {
      expect(await store.waitUntilReady(2_000)).toBe(true);
      await expectUnavailableQuickly(vault.unlock(session));
      await expectUnavailableQuickly(vault.store(session, keyring()));
    } finally {
      await vault.onApplicationShutdown();
      await hanging.stop();
    }
  });

  const redisServerInstalled =
    spawnSync('redis-server', ['--version']).status === 0;
  if (!redisServerInstalled)
    console.warn('Redis recovery test skipped: no redis-server binary on PATH');
  (redisServerInstalled ? it : it.skip)(
    'recovers by itself when Redis comes (back), and fails closed again when it goes',
    async () => {
      const port = await findFreePort();
      const store = new RedisVaultStore({
        url: `redis://127.0.0.1:${port}`,
        keyPrefix: 'vault:',
        commandTimeoutMs: 500,
        idleTtlMs: IDLE_MS,
        maxTtlMs: MAX_MS,
      });
      const vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
      let server: ChildProcess | undefined;
      try {
        await expectUnavailableQuickly(vault.unlock(session));

        server = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
          ],
          {
            stdio: 'ignore',
          },
        );
        await waitFor(() => vault.isAvailable(), 8_000);
        await vault.store(session, keyring());
        await expect(vault.unlock(session)).resolves.toBeInstanceOf(Keyring);

        await stopProcess(server);
        server = undefined;
        await expectUnavailableQuickly(vault.unlock(session));
        await expect(vault.isAvailable()).resolves.toBe(false);
      } finally {
        await vault.onApplicationShutdown();
        if (server) await stopProcess(server);
      }
    },
    20_000,
  );
});

async function waitFor(
  condition: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
