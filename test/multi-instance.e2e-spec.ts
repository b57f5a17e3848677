import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import type { RegisteredDto, TokenPairDto } from '../src/auth/dto/auth.dto';
import {
  AccessKeyMaterial,
  Argon2Params,
  derivePasswordMasterKey,
  splitPasswordMasterKey,
  unwrapDataKey,
} from '@vault-pii/nest-encryption/crypto';
import { deriveServerSecrets } from '../src/crypto/server-secrets';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import { deriveSessionKey } from '@vault-pii/nest-encryption';
import {
  AppInstance,
  instanceLogs,
  startAppInstance,
  stopAppInstance,
} from './support/app-instances';
import { bearer } from './support/auth-client';
import { openAccessKeyEntry } from './support/access-key-vault-entry';
import { waitUntil } from './support/wait-until';
import type { CreatedAccessKeyDto } from '../src/me/access-keys/dto/access-key.dto';
import {
  Canary,
  Dump,
  dumpLogs,
  dumpRedis,
  findCanaries,
} from './support/canary-scan';
import { bodyOf } from './support/http-body';
import { decodeJwt } from './support/jwt-forge';
import { expectProblem } from './support/problem-assertions';
import {
  RedisServerProcess,
  redisServerMissingReason,
} from './support/redis-server-process';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Issue 7, item 3: two real app processes (`src/main.ts`) on one PostgreSQL database and one
 * Redis — a `redis-server` this file starts on a free port, so the final scan reads every key
 * of a Redis nothing else writes to. Any instance must serve any request: sessions, refresh
 * state, revocations and rate limits are shared; nothing that matters is process-local.
 */
const skipReason = redisServerMissingReason();
if (skipReason) console.warn(`multi-instance e2e skipped: ${skipReason}`);

(skipReason ? describe.skip : describe)(
  `two app instances on one PostgreSQL and one Redis${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const KEY_PREFIX = 'mi:';
    const LOGIN_FAILURE_LIMIT = 3;
    const masterKey = randomBytes(32);
    const secrets = deriveServerSecrets(masterKey);
    const tag = randomBytes(3).toString('hex');

    let redis: RedisServerProcess;
    let admin: Redis;
    let database: TestDatabase;
    let dataDir: string;
    let env: Record<string, string>;
    let a: AppInstance;
    let b: AppInstance;
    const stopped: AppInstance[] = [];

    /** Every secret and PII value of the run; tokens, keys and passwords join as they appear. */
    const canaries: Canary[] = [];
    /** Each user's passwords, the current one last: the scan unwraps their data keys with it. */
    const passwordsOf = new Map<string, string[]>();
    let userCount = 0;

    interface Account {
      userId: string;
      email: string;
      password: string;
      profile: Record<string, string>;
    }
    interface Tokens {
      accessToken: string;
      refreshToken: string;
    }

    function addTokens(label: string, tokens: Tokens): Tokens {
      const { payload } = decodeJwt(tokens.accessToken);
      const sid = Buffer.from(payload.sid as string, 'base64url');
      const clientShare = Buffer.from(payload.cs as string, 'base64url');
      const refreshBytes = Buffer.from(tokens.refreshToken, 'base64url');
      canaries.push(
        // The whole token and each of its base64url parts (header, payload, signature).
        {
          label: `${label}: access token`,
          text: [tokens.accessToken, ...tokens.accessToken.split('.')],
        },
        {
          label: `${label}: refresh token`,
          text: [tokens.refreshToken],
          bytes: [refreshBytes, refreshBytes.subarray(33)],
        },
        { label: `${label}: sid`, text: [payload.sid as string], bytes: [sid] },
        {
          label: `${label}: client share`,
          text: [payload.cs as string],
          bytes: [clientShare],
        },
      );
      // The key that seals this session's vault entry (what a dump would need to open it).
      const sessionId = createHash('sha256').update(sid).digest('hex');
      canaries.push({
        label: `${label}: session key`,
        text: [],
        bytes: [deriveSessionKey(secrets.vaultKey, sessionId, clientShare)],
      });
      return tokens;
    }

    function addPassword(label: string, password: string): void {
      canaries.push({ label, text: [password] });
    }

    async function register(on: AppInstance): Promise<Account> {
      userCount++;
      const email = `multi.instance-${tag}-${userCount}@example.org`;
      const password = `Multi instance passphrase ${tag} ${userCount}`;
      const profile = {
        fullName: `Hortensia Twinserver ${tag}${userCount}`,
        phone: `+44 20 7946 ${String(1000 + userCount)}`,
        address: `${userCount} Replica Lane ${tag}, Shardford`,
        nationalId: `MI-${tag}-${userCount}`,
      };
      const response = await on
        .http()
        .post('/v1/auth/register')
        .send({ email, password, profile });
      expect(response.status).toBe(201);
      const { userId, recoveryCode } = bodyOf<RegisteredDto>(response);
      canaries.push(
        {
          label: `user ${userCount}: email`,
          text: [email, email.split('@')[0]],
        },
        { label: `user ${userCount}: profile`, text: Object.values(profile) },
        {
          label: `user ${userCount}: recovery code`,
          text: [recoveryCode, recoveryCode.replace(/-/g, '')],
        },
      );
      addPassword(`user ${userCount}: password`, password);
      passwordsOf.set(userId, [password]);
      return { userId, email, password, profile };
    }

    async function login(
      on: AppInstance,
      account: Account,
      label: string,
    ): Promise<Tokens> {
      const response = await on
        .http()
        .post('/v1/auth/login')
        .send({ email: account.email, password: account.password });
      expect({
        status: response.status,
        body: bodyOf<unknown>(response),
      }).toMatchObject({ status: 200 });
      return addTokens(label, bodyOf<TokenPairDto>(response));
    }

    const profileOf = (on: AppInstance, tokens: Tokens) =>
      on
        .http()
        .get('/v1/me/profile')
        .set(...bearer(tokens.accessToken));
    const refreshOn = (on: AppInstance, tokens: Tokens) =>
      on
        .http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: tokens.refreshToken });

    beforeAll(async () => {
      redis = await RedisServerProcess.start();
      admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      database = await createTestDatabase();
      // One DATA_DIR for both: the shared volume documents need (docs/scaling-out.md).
      dataDir = mkdtempSync(join(tmpdir(), 'e2e-multi-'));
      env = {
        NODE_ENV: 'production',
        APP_MASTER_KEY: masterKey.toString('base64'),
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: KEY_PREFIX,
        DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
        AUTH_RATE_LIMIT: '100000',
        LOGIN_FAILURE_LIMIT: String(LOGIN_FAILURE_LIMIT),
      };
      canaries.push({
        label: 'server secrets',
        text: [env.APP_MASTER_KEY],
        bytes: [
          masterKey,
          secrets.vaultKey,
          secrets.pepper,
          secrets.argon2OutputKey,
          secrets.rateLimitKey,
          secrets.idempotencyKey,
          secrets.blindIndexKey,
        ],
      });
      // Both at once on an empty database: the replicas of a fresh deployment race to migrate.
      [a, b] = await Promise.all([
        startAppInstance('A', env),
        startAppInstance('B', env),
      ]);
    }, 120_000);

    afterAll(async () => {
      await Promise.all(
        [a, b, ...stopped].map((instance) => stopAppInstance(instance)),
      );
      admin?.disconnect();
      await redis?.close();
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 30_000);

    it('both instances, started together on an empty database, are ready', async () => {
      for (const instance of [a, b]) {
        const ready = await instance.http().get('/health/ready');
        expect(ready.status).toBe(200);
        expect(ready.body).toEqual({
          status: 'ok',
          checks: { database: 'up', vault: 'up', documents: 'up' },
          keyMemory: 'locked',
        });
      }
    });

    it('logs in on A and reads the profile on B (and the other way round)', async () => {
      const account = await register(a);
      const tokens = await login(a, account, 'log in on A');
      const onB = await profileOf(b, tokens);
      expect(onB.status).toBe(200);
      expect(onB.body).toMatchObject({
        fullName: account.profile.fullName,
        nationalId: account.profile.nationalId,
      });
      expect(
        (
          await b
            .http()
            .get('/v1/me')
            .set(...bearer(tokens.accessToken))
        ).body,
      ).toMatchObject({ userId: account.userId, email: account.email });

      const fromB = await login(b, account, 'log in on B');
      expect((await profileOf(a, fromB)).status).toBe(200);
    });

    it('refreshes on B with a token issued on A, and the new tokens work on A', async () => {
      const account = await register(b);
      const first = await login(a, account, 'refresh: login on A');
      const refreshed = await refreshOn(b, first);
      expect(refreshed.status).toBe(200);
      const second = addTokens(
        'refresh: refreshed on B',
        bodyOf<TokenPairDto>(refreshed),
      );
      expect((await profileOf(a, second)).status).toBe(200);
      // And once more the other way.
      const third = await refreshOn(a, second);
      expect(third.status).toBe(200);
      expect(
        (
          await profileOf(
            b,
            addTokens('refresh: refreshed on A', bodyOf<TokenPairDto>(third)),
          )
        ).status,
      ).toBe(200);
    });

    it('a refresh token replayed on the other instance revokes the session everywhere', async () => {
      const account = await register(a);
      const spent = await login(a, account, 'replay: login on A');
      const rotated = await refreshOn(a, spent);
      expect(rotated.status).toBe(200);
      const live = addTokens(
        'replay: rotated on A',
        bodyOf<TokenPairDto>(rotated),
      );

      expectProblem(await refreshOn(b, spent), 401, 'invalid_token', [
        spent.refreshToken,
      ]);
      // The thief's replay ended the victim's session too, on both instances, at once.
      expectProblem(await profileOf(a, live), 401, 'session_locked');
      expectProblem(await profileOf(b, live), 401, 'session_locked');
      expectProblem(await refreshOn(a, live), 401, 'invalid_token');
    });

    it('logs out on B, and A answers 401 at once (access and refresh token)', async () => {
      const account = await register(a);
      const tokens = await login(a, account, 'logout: login on A');
      expect((await profileOf(a, tokens)).status).toBe(200);
      expect(
        (
          await b
            .http()
            .post('/v1/auth/logout')
            .set(...bearer(tokens.accessToken))
        ).status,
      ).toBe(204);
      expectProblem(await profileOf(a, tokens), 401, 'session_locked');
      expectProblem(await refreshOn(a, tokens), 401, 'invalid_token');
    });

    it("a password change on A ends the user's sessions on B, keeps A's, and the new password works on B", async () => {
      const account = await register(a);
      const onB = await login(b, account, 'password: login on B');
      const onA = await login(a, account, 'password: login on A');
      const newPassword = `Changed multi passphrase ${tag}`;
      addPassword('password: new password', newPassword);
      passwordsOf.get(account.userId)?.push(newPassword);

      const change = await a
        .http()
        .post('/v1/auth/password')
        .set(...bearer(onA.accessToken))
        .send({ currentPassword: account.password, newPassword });
      expect(change.status).toBe(204);
      expectProblem(await profileOf(b, onB), 401, 'session_locked');
      expectProblem(await profileOf(a, onB), 401, 'session_locked');
      expectProblem(await refreshOn(b, onB), 401, 'invalid_token');
      expect((await profileOf(b, onA)).status).toBe(200);

      const oldPassword = await b
        .http()
        .post('/v1/auth/login')
        .send({ email: account.email, password: account.password });
      expectProblem(oldPassword, 401, 'invalid_credentials');
      const relogin = await login(
        b,
        { ...account, password: newPassword },
        'password: login on B with the new password',
      );
      expect((await profileOf(a, relogin)).body).toMatchObject({
        fullName: account.profile.fullName,
      });
    });

    it('lists on B the session opened on A, and ending it on B ends it on A at once', async () => {
      const account = await register(b);
      const onA = await login(a, account, 'sessions: login on A');
      const onB = await login(b, account, 'sessions: login on B');
      const listed = await b
        .http()
        .get('/v1/auth/sessions')
        .set(...bearer(onB.accessToken));
      expect(listed.status).toBe(200);
      const { items } = listed.body as {
        items: { id: string; current: boolean }[];
      };
      expect(items).toHaveLength(2);
      const other = items.find((session) => !session.current);
      expect(
        (
          await b
            .http()
            .delete(`/v1/auth/sessions/${other?.id}`)
            .set(...bearer(onB.accessToken))
        ).status,
      ).toBe(204);
      expectProblem(await profileOf(a, onA), 401, 'session_locked');
      expect((await profileOf(a, onB)).status).toBe(200);
    });

    it('serves on B a document created on A (one DATA_DIR volume for every instance)', async () => {
      const account = await register(a);
      const tokens = await login(a, account, 'documents: login on A');
      const created = await a
        .http()
        .post('/v1/documents')
        .set(...bearer(tokens.accessToken))
        .send({ kind: 'profile-summary' });
      expect(created.status).toBe(201);
      const download = await b
        .http()
        .get(`/v1/documents/${bodyOf<DocumentDto>(created).id}/content`)
        .set(...bearer(tokens.accessToken))
        .buffer(true);
      expect(download.status).toBe(200);
      expect(download.headers['content-type']).toBe('application/pdf');
      expect(Buffer.from(download.body).subarray(0, 5).toString('latin1')).toBe(
        '%PDF-',
      );
    });

    it('counts failed logins per account across instances', async () => {
      const account = await register(b);
      const wrongPassword = `Wrong multi passphrase ${tag}`;
      addPassword('rate limit: wrong password', wrongPassword);
      const attempt = (on: AppInstance, password: string) =>
        on
          .http()
          .post('/v1/auth/login')
          .send({ email: account.email, password });

      const instances = [a, b, a];
      for (const instance of instances.slice(0, LOGIN_FAILURE_LIMIT)) {
        expectProblem(
          await attempt(instance, wrongPassword),
          401,
          'invalid_credentials',
        );
      }
      // The limit is spent on both: even the right password waits, whichever instance it reaches.
      for (const instance of [b, a]) {
        const locked = await attempt(instance, account.password);
        expectProblem(locked, 429, 'too_many_requests', [
          account.email,
          account.password,
        ]);
        expect(Number(locked.headers['retry-after'])).toBeGreaterThan(14 * 60);
      }
    });

    it('restarts A (SIGTERM, then a new process): tokens issued before keep working on it', async () => {
      const account = await register(a);
      const beforeA = await login(a, account, 'restart: login on A');
      const beforeB = await login(b, account, 'restart: login on B');

      expect(await stopAppInstance(a)).toBe(0);
      stopped.push(a);
      // While A is down, B serves A's session.
      expect((await profileOf(b, beforeA)).status).toBe(200);
      a = await startAppInstance('A (restarted)', env);

      for (const tokens of [beforeA, beforeB]) {
        const profile = await profileOf(a, tokens);
        expect(profile.status).toBe(200);
        expect(profile.body).toMatchObject({
          fullName: account.profile.fullName,
        });
      }
      const refreshed = await refreshOn(a, beforeA);
      expect(refreshed.status).toBe(200);
      expect(
        (
          await profileOf(
            b,
            addTokens(
              'restart: refreshed on restarted A',
              bodyOf<TokenPairDto>(refreshed),
            ),
          )
        ).status,
      ).toBe(200);
    }, 90_000);

    /** An access key's secret, and what it derives, as canaries; and its vault entry in Redis. */
    function addAccessKey(label: string, key: { id: string; secret: string }) {
      const body = key.secret.slice('vpk_'.length);
      const material = AccessKeyMaterial.derive(
        key.secret,
        secrets.accessKeySecret,
      )!;
      canaries.push(
        {
          label: `${label}: secret`,
          text: [key.secret, body],
          bytes: [Buffer.from(body, 'base64url')],
        },
        {
          label: `${label}: vault share and entry key`,
          text: [],
          bytes: [
            Buffer.from(material.vaultShare),
            deriveSessionKey(
              secrets.vaultKey,
              `access-key:${key.id}`,
              material.vaultShare,
            ),
          ],
        },
      );
      material.zero();
      return `${KEY_PREFIX}vault:s:access-key:${key.id}`;
    }

    it('an access key used on both instances: a rotation on A reaches it on B at once, and a revocation on B refuses it on A at once', async () => {
      const account = await register(a);
      const tokens = await login(a, account, 'access key: login on A');
      const createKey = async (name: string) => {
        const created = await a
          .http()
          .post('/v1/me/access-keys')
          .set(...bearer(tokens.accessToken))
          .send({
            name,
            scopes: ['profile:read', 'profile:write'],
            expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
            password: account.password,
          });
        expect(created.status).toBe(201);
        return bodyOf<CreatedAccessKeyDto>(created);
      };
      const revoked = await createKey('revoked on B');
      const kept = await createKey('kept');
      const revokedEntry = addAccessKey('access key revoked on B', revoked);
      const keptEntry = addAccessKey('access key kept', kept);
      const profileByKey = (on: AppInstance, secret: string) =>
        on
          .http()
          .get('/v1/me/profile')
          .set(...bearer(secret));
      const entryVersions = async (entryKey: string, key: typeof kept) => {
        const sealed = await admin.hgetBuffer(entryKey, 'e');
        return (
          sealed &&
          openAccessKeyEntry(
            { sealed, keyId: key.id, userId: account.userId },
            key.secret,
            secrets,
          )
        );
      };

      // Both instances serve both keys; from the second request on, from the shared vault entry.
      for (const on of [a, b, a, b])
        for (const key of [revoked, kept])
          expect((await profileByKey(on, key.secret)).body).toMatchObject({
            fullName: account.profile.fullName,
          });
      expect(await entryVersions(revokedEntry, revoked)).toEqual([1]);

      // A rotates: B, which has just served the keys from their entries, writes under the new
      // version at once, and A's session reads it.
      const rotation = await a
        .http()
        .post('/v1/me/keys/rotate')
        .set(...bearer(tokens.accessToken))
        .send({ password: account.password });
      expect(rotation.status).toBe(200);
      const { recoveryCode } = bodyOf<{ recoveryCode: string }>(rotation);
      canaries.push({
        label: 'access key: recovery code after the rotation',
        text: [recoveryCode, recoveryCode.replace(/-/g, '')],
      });
      const phone = `+44 20 7946 ${String(5000 + userCount)}`;
      canaries.push({
        label: 'access key: phone written by key',
        text: [phone],
      });
      const written = await b
        .http()
        .patch('/v1/me/profile')
        .set(...bearer(kept.secret))
        .send({ phone });
      expect(written.status).toBe(200);
      expect((await profileOf(a, tokens)).body).toMatchObject({ phone });
      const pg = new Client({ connectionString: database.url });
      await pg.connect();
      try {
        await waitUntil(
          'the rotation finished',
          async () =>
            (
              await pg.query('SELECT 1 FROM key_rotations WHERE user_id = $1', [
                account.userId,
              ])
            ).rowCount === 0,
          { timeoutMs: 30_000, intervalMs: 100 },
        );
      } finally {
        await pg.end();
      }
      for (const on of [a, b])
        for (const key of [revoked, kept])
          expect((await profileByKey(on, key.secret)).body).toMatchObject({
            phone,
          });
      // The entries hold the new version only: the destroyed one is in none.
      expect(await entryVersions(revokedEntry, revoked)).toEqual([2]);
      expect(await entryVersions(keptEntry, kept)).toEqual([2]);

      // B revokes one key: A, which served it a moment ago, refuses it at once.
      expect((await profileByKey(a, revoked.secret)).status).toBe(200);
      const revocation = await b
        .http()
        .delete(`/v1/me/access-keys/${revoked.id}`)
        .set(...bearer(tokens.accessToken));
      expect(revocation.status).toBe(204);
      expect(await admin.exists(revokedEntry)).toBe(0);
      for (const on of [a, b])
        expectProblem(
          await profileByKey(on, revoked.secret),
          401,
          'invalid_token',
        );
      // The other key goes on, and its entry is there for the scan below.
      expect((await profileByKey(a, kept.secret)).status).toBe(200);
      expect(await admin.exists(keptEntry)).toBe(1);
    });

    it('Redis holds nothing usable: no PII, password, token (or part of one), client share or key in any key or value', async () => {
      // The data keys the sessions held, unwrapped here with each user's latest password: a dump
      // must not contain them, in any encoding.
      const pg = new Client({ connectionString: database.url });
      await pg.connect();
      try {
        const users: {
          id: string;
          kdf_salt: Buffer;
          kdf_params: Argon2Params;
        }[] = (
          await pg.query<{
            id: string;
            kdf_salt: Buffer;
            kdf_params: Argon2Params;
          }>('SELECT id, kdf_salt, kdf_params FROM users')
        ).rows;
        let unwrapped = 0;
        for (const user of users) {
          const { rows } = await pg.query<{
            key_version: number;
            wrapped_by_password: Buffer;
          }>(
            'SELECT key_version, wrapped_by_password FROM user_data_keys WHERE user_id = $1',
            [user.id],
          );
          const password = passwordsOf.get(user.id)?.at(-1) as string;
          // The account's own KDF version (kdf_params.version): the pepper and argon2-output key both.
          const { kek } = splitPasswordMasterKey(
            await derivePasswordMasterKey(
              password,
              user.kdf_salt,
              user.kdf_params,
              secrets,
            ),
          );
          for (const row of rows) {
            const dataKey = unwrapDataKey(row.wrapped_by_password, kek, {
              userId: user.id,
              keyVersion: row.key_version,
              wrappedBy: 'password',
            });
            canaries.push({
              label: `data key of user ${user.id} v${row.key_version}`,
              text: [dataKey.toString('base64'), dataKey.toString('base64url')],
              bytes: [dataKey],
            });
            unwrapped++;
          }
        }
        expect(unwrapped).toBeGreaterThanOrEqual(users.length);
      } finally {
        await pg.end();
      }

      // The scan finds what it looks for: a data key's bytes planted inside a hash value.
      const planted = canaries.find((canary) =>
        canary.label.startsWith('data key of user'),
      ) as Canary;
      await admin.hset(
        'control',
        'e',
        Buffer.concat([randomBytes(5), planted.bytes![0], randomBytes(3)]),
      );
      const withControl = findCanaries(
        canaries,
        (await dumpRedis(admin)).dumps,
      );
      await admin.del('control');
      expect(withControl).toEqual([
        { canary: planted.label, where: 'redis:control (hash)', how: 'hex' },
      ]);

      const { dumps, keys } = await dumpRedis(admin);
      // DUMP too: Redis's own serialisation of every key, whatever its type.
      const serialised: Dump[] = [];
      for (const key of keys) {
        const dumped = await admin.dumpBuffer(key);
        if (dumped)
          serialised.push({
            where: `redis DUMP ${key}`,
            text: [dumped.toString('latin1').toLowerCase()],
            hex: [dumped.toString('hex')],
          });
      }

      // What is there: sealed vault entries, user indexes and HMAC-named counters, all under the
      // prefix, all expiring.
      expect(keys.length).toBeGreaterThan(5);
      for (const key of keys) {
        expect(key).toMatch(
          /^mi:(vault:s:([0-9a-f]{64}|access-key:[0-9a-f-]{36})|vault:u:[0-9a-f-]{36}|rate-limit:(login|register|documents|access-keys):[0-9a-f]{32}|rate-limit:\{address:[0-9a-f]{32}:auth-address\}:(hits|blocked))$/,
        );
        // Every key expires by itself (-1 would be a key without a TTL).
        expect({ key, expires: (await admin.pttl(key)) > 0 }).toEqual({
          key,
          expires: true,
        });
      }
      expect(keys.some((key) => key.startsWith('mi:vault:s:'))).toBe(true);
      expect(keys.some((key) => key.startsWith('mi:vault:s:access-key:'))).toBe(
        true,
      );
      expect(keys.some((key) => key.startsWith('mi:rate-limit:login:'))).toBe(
        true,
      );

      const allLogs = [a, b, ...stopped].flatMap((instance) =>
        instanceLogs(instance),
      );
      expect(allLogs.length).toBeGreaterThan(10);
      expect(
        findCanaries(canaries, [...dumps, ...serialised, ...dumpLogs(allLogs)]),
      ).toEqual([]);
    }, 60_000);
  },
);
