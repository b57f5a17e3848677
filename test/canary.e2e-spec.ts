import { createHash, randomBytes, randomInt } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import type {
  RecoveryCodeDto,
  RegisteredDto,
  TokenPairDto,
} from '../src/auth/dto/auth.dto';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { MemoryVaultStore, VAULT_STORE } from '@vault-pii/nest-encryption';
import { assertStoredAsCiphertext } from '@vault-pii/nest-encryption/testing';
import { Profile } from '../src/profile/profile.entity';
import { User } from '../src/users/user.entity';
import type { MeDto } from '../src/me/me.controller';
import { bearer } from './support/auth-client';
import {
  Canary,
  Dump,
  dumpDatabase,
  dumpFiles,
  dumpLogs,
  dumpRedis,
  findCanaries,
} from './support/canary-scan';
import { bodyOf } from './support/http-body';
import { decodeJwt } from './support/jwt-forge';
import { createTestApp, TestApp } from './support/test-app';
import { deleteRunKeys, vaultStoreCases } from './support/vault-stores';

/**
 * docs/crypto.md, docs/http-api.md and docs/security.md: no table holds PII in plaintext, no log
 * line carries PII or secrets, and the vault store holds nothing a dump could use. The whole
 * account lifecycle runs with distinctive canary values at LOG_LEVEL=trace; after every step the
 * database (every table of the public schema, bytea as text and hex), the vault store (Redis when
 * REDIS_URL is set: every key of a database of its own; otherwise the in-memory entries) and
 * DATA_DIR are snapshotted; at the end every canary is searched in every snapshot and every log
 * line.
 */

describe.each(vaultStoreCases(9))(
  'canaries never leak (%s vault store)',
  (_store, storeEnv) => {
    if (!storeEnv) {
      it.skip('needs REDIS_URL (skipped: no Redis configured)', () =>
        undefined);
      return;
    }

    let t: TestApp;
    let redis: Redis | undefined;
    const http = () => request(t.app.getHttpServer());

    // Distinctive, unique per run. Every one of them must be at least 8 characters.
    const tag = randomBytes(3).toString('hex');
    const digits = () => String(randomInt(10_000_000, 99_999_999));
    const EMAIL_AS_TYPED = `  Canary.Zebra-${tag}@Example.ORG `;
    const EMAIL = `canary.zebra-${tag}@example.org`;
    const UNKNOWN_EMAIL = `nobody.canary-${tag}@example.org`;
    const PASSWORD_1 = `Canary first passphrase ${tag}`;
    const PASSWORD_2 = `Canary second passphrase ${tag}`;
    const PASSWORD_3 = `Canary third passphrase ${tag}`;
    const WRONG_PASSWORD = `Canary wrong passphrase ${tag}`;
    const WRONG_RECOVERY_CODE = 'ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ';
    const PROFILE_1 = {
      fullName: `Quentin Canarybird ${tag}`,
      dateOfBirth: '1931-07-04',
      phone: `+44 77 ${digits()}`,
      address: `7 Canary Wharf Crescent ${tag}, Zedtown`,
      nationalId: `CNRY-${tag}-ONE`,
    };
    const PROFILE_2 = {
      fullName: `Philippa Canaryfinch ${tag}`,
      dateOfBirth: '1947-02-28',
      phone: `+1 (555) ${digits()}`,
      address: `99 Yellowfeather Row ${tag}`,
      nationalId: `CNRY-${tag}-TWO`,
    };
    const PATCH_3 = {
      phone: `0044 ${digits()}`,
      nationalId: `CNRY-${tag}-THREE`,
    };

    /** Every secret and PII value seen during the run (tokens and codes are added as they appear). */
    const canaries: Canary[] = [];
    const snapshots: Dump[] = [];
    const tablesSeen = new Set<string>();
    let sawVaultEntry = false;

    function addCanary(label: string, ...text: string[]): void {
      for (const value of text)
        expect({ label, long: value.length >= 8 }).toEqual({
          label,
          long: true,
        });
      canaries.push({ label, text });
    }

    function addRecoveryCode(label: string, code: string): void {
      expect(code).toMatch(/^([0-9A-Z]{4}-){6}[0-9A-Z]{4}$/);
      addCanary(label, code, code.replace(/-/g, ''), code.replace(/-/g, ' '));
    }

    /** The access and refresh tokens, and the sid and client share they carry (text and bytes). */
    function addTokens(
      label: string,
      pair: { accessToken: string; refreshToken: string },
    ): void {
      const { payload, signature } = decodeJwt(pair.accessToken);
      const sid = Buffer.from(payload.sid as string, 'base64url');
      const cs = Buffer.from(payload.cs as string, 'base64url');
      canaries.push(
        { label: `${label} access token`, text: [pair.accessToken, signature] },
        {
          label: `${label} refresh token`,
          text: [pair.refreshToken],
          bytes: [Buffer.from(pair.refreshToken, 'base64url')],
        },
        // The secret part of the refresh token alone (the last 32 bytes).
        {
          label: `${label} refresh secret`,
          text: [],
          bytes: [Buffer.from(pair.refreshToken, 'base64url').subarray(33)],
        },
        { label: `${label} sid`, text: [payload.sid as string], bytes: [sid] },
        {
          label: `${label} client share`,
          text: [payload.cs as string],
          bytes: [cs],
        },
      );
    }

    async function snapshot(step: string): Promise<void> {
      const { dumps, rowCounts } = await dumpDatabase(t.dataSource);
      for (const [table, count] of Object.entries(rowCounts))
        if (count > 0) tablesSeen.add(table);
      snapshots.push(
        ...dumps.map((dump) => ({ ...dump, where: `${step} ${dump.where}` })),
      );
      snapshots.push(
        ...dumpFiles(t.config.dataDir).map((dump) => ({
          ...dump,
          where: `${step} ${dump.where}`,
        })),
      );
      if (redis) {
        const { dumps: keys } = await dumpRedis(redis);
        if (
          keys.some((dump) =>
            /^redis:[^ ]*vault:s:[0-9a-f]{64} \(hash\)$/.test(dump.where),
          )
        )
          sawVaultEntry = true;
        snapshots.push(
          ...keys.map((dump) => ({ ...dump, where: `${step} ${dump.where}` })),
        );
      } else {
        const store = t.app.get<MemoryVaultStore>(VAULT_STORE);
        expect(store).toBeInstanceOf(MemoryVaultStore);
        for (const canary of canaries.filter((c) => c.label.endsWith(' sid'))) {
          const sessionId = createHash('sha256')
            .update(canary.bytes![0])
            .digest('hex');
          const entry = store.peek(sessionId);
          if (!entry) continue;
          sawVaultEntry = true;
          snapshots.push({
            where: `${step} vault:${sessionId}`,
            text: [
              entry.sealed.toString('utf8').toLowerCase(),
              entry.sealed.toString('latin1').toLowerCase(),
              sessionId,
              entry.userId,
            ],
            hex: [entry.sealed.toString('hex')],
          });
        }
      }
    }

    beforeAll(async () => {
      t = await createTestApp({
        env: {
          LOG_LEVEL: 'trace',
          // Redis: a database of this file's own (the scan below reads every key in it) and a run prefix.
          ...storeEnv,
          AUTH_RATE_LIMIT: '100000',
          LOGIN_FAILURE_LIMIT: '100000',
        },
      });
      if (storeEnv.REDIS_URL) {
        redis = new Redis(storeEnv.REDIS_URL, {
          lazyConnect: true,
          maxRetriesPerRequest: 1,
        });
        await redis.connect();
      }
      addCanary(
        'email',
        EMAIL,
        EMAIL_AS_TYPED.trim(),
        encodeURIComponent(EMAIL),
        `canary.zebra-${tag}`,
      );
      addCanary('unknown email', UNKNOWN_EMAIL, `nobody.canary-${tag}`);
      addCanary('password 1', PASSWORD_1);
      addCanary('password 2', PASSWORD_2);
      addCanary('password 3', PASSWORD_3);
      addCanary('wrong password', WRONG_PASSWORD);
      addCanary('wrong recovery code', WRONG_RECOVERY_CODE);
      for (const [field, value] of Object.entries(PROFILE_1))
        addCanary(`profile 1 ${field}`, value);
      for (const [field, value] of Object.entries(PROFILE_2))
        addCanary(`profile 2 ${field}`, value);
      for (const [field, value] of Object.entries(PATCH_3))
        addCanary(`patch 3 ${field}`, value);
      // The phone numbers as bare digits as well (a normaliser might store them so).
      for (const phone of [PROFILE_1.phone, PROFILE_2.phone, PATCH_3.phone])
        addCanary(`phone digits ${phone}`, phone.replace(/\D/g, ''));
    });

    afterAll(async () => {
      redis?.disconnect();
      await t?.close();
      // Only this run's keys (its own prefix): rate-limit counters would otherwise linger a window.
      await deleteRunKeys(storeEnv);
    });

    it('control: the scanners find canaries planted in a table (text and bytea), in Redis and in a log line', async () => {
      const planted: Canary[] = [
        { label: 'planted text', text: [`Planted Canary ${tag} text`] },
        { label: 'planted utf8 bytea', text: [`Planted Canary ${tag} bytes`] },
        { label: 'planted raw bytes', text: [], bytes: [randomBytes(16)] },
      ];
      const raw = planted[2].bytes![0];
      await t.dataSource.query(
        'CREATE TABLE zz_canary_probe (note text, blob bytea, other bytea)',
      );
      try {
        await t.dataSource.query(
          'INSERT INTO zz_canary_probe VALUES ($1, $2, $3)',
          [
            planted[0].text[0].toUpperCase(),
            Buffer.from(`xx${planted[1].text[0]}yy`),
            Buffer.concat([randomBytes(5), raw, randomBytes(7)]),
          ],
        );
        const { dumps } = await dumpDatabase(t.dataSource);
        const found = findCanaries(planted, dumps).map(
          (finding) =>
            `${finding.canary}@${finding.where.replace(/#\d+$/, '')}`,
        );
        expect(found.sort()).toEqual([
          'planted raw bytes@db:zz_canary_probe',
          'planted text@db:zz_canary_probe',
          'planted utf8 bytea@db:zz_canary_probe',
        ]);
      } finally {
        await t.dataSource.query('DROP TABLE zz_canary_probe');
      }
      expect(
        findCanaries(
          planted,
          dumpLogs([{ msg: `login of ${planted[0].text[0].toLowerCase()}` }]),
        ),
      ).toHaveLength(1);
      if (redis) {
        const key = `zz-canary-probe:${tag}`;
        await redis.hset(key, 'e', Buffer.concat([randomBytes(3), raw]));
        try {
          const { dumps } = await dumpRedis(redis);
          expect(findCanaries(planted, dumps)).toEqual([
            {
              canary: 'planted raw bytes',
              where: `redis:${key} (hash)`,
              how: 'hex',
            },
          ]);
        } finally {
          await redis.del(key);
        }
      }
    });

    it('runs the whole lifecycle with canaries, then finds none in logs, tables, vault store or files', async () => {
      // Register with a profile (the email typed in mixed case with spaces).
      const register = await http().post('/v1/auth/register').send({
        email: EMAIL_AS_TYPED,
        password: PASSWORD_1,
        profile: PROFILE_1,
      });
      expect(register.status).toBe(201);
      const registered = bodyOf<RegisteredDto>(register);
      const userId = registered.userId;
      addRecoveryCode('recovery code 1', registered.recoveryCode);
      await snapshot('register');

      // Failures that log and audit: wrong password, unknown email, wrong recovery code, taken email.
      expect(
        (
          await http()
            .post('/v1/auth/login')
            .send({ email: EMAIL, password: WRONG_PASSWORD })
        ).status,
      ).toBe(401);
      expect(
        (
          await http()
            .post('/v1/auth/login')
            .send({ email: UNKNOWN_EMAIL, password: PASSWORD_1 })
        ).status,
      ).toBe(401);
      expect(
        (
          await http()
            .post('/v1/auth/register')
            .send({ email: EMAIL.toUpperCase(), password: PASSWORD_1 })
        ).status,
      ).toBe(409);
      const badRecovery = await http().post('/v1/auth/recover').send({
        email: EMAIL,
        recoveryCode: WRONG_RECOVERY_CODE,
        newPassword: PASSWORD_3,
      });
      expect(badRecovery.status).toBe(401);

      // Log in, read, replace and patch the profile.
      const login1 = await http()
        .post('/v1/auth/login')
        .send({ email: EMAIL.toUpperCase(), password: PASSWORD_1 });
      expect(login1.status).toBe(200);
      const pair1 = bodyOf<TokenPairDto>(login1);
      addTokens('login 1', pair1);
      await snapshot('login');
      const a1 = pair1.accessToken;
      expect(
        (
          await http()
            .get('/v1/me/profile')
            .set(...bearer(a1))
        ).body,
      ).toEqual(PROFILE_1);
      expect(
        bodyOf<MeDto>(
          await http()
            .get('/v1/me')
            .set(...bearer(a1)),
        ).email,
      ).toBe(EMAIL);
      expect(
        (
          await http()
            .put('/v1/me/profile')
            .set(...bearer(a1))
            .send(PROFILE_2)
        ).body,
      ).toEqual(PROFILE_2);
      await snapshot('put profile');
      expect(
        (
          await http()
            .patch('/v1/me/profile')
            .set(...bearer(a1))
            .send(PATCH_3)
        ).body,
      ).toEqual({ ...PROFILE_2, ...PATCH_3 });
      // A rejected profile update with PII in it (bad date) must not log it either.
      expect(
        (
          await http()
            .patch('/v1/me/profile')
            .set(...bearer(a1))
            .send({
              fullName: PROFILE_1.fullName,
              dateOfBirth: PROFILE_1.address,
            })
        ).status,
      ).toBe(400);
      await snapshot('patch profile');
      // Row by row as well: every encrypted column an envelope, no profile value or email anywhere.
      await assertStoredAsCiphertext(t.dataSource, Profile, userId, {
        plaintexts: [PROFILE_1, PROFILE_2, PATCH_3].flatMap(Object.values),
      });
      await assertStoredAsCiphertext(t.dataSource, User, userId, {
        plaintexts: [EMAIL, EMAIL_AS_TYPED.trim()],
      });

      // Refresh, a second session, list sessions.
      const refreshed = await http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: pair1.refreshToken });
      expect(refreshed.status).toBe(200);
      const pair2 = bodyOf<TokenPairDto>(refreshed);
      addTokens('refresh 1', pair2);
      const a2 = pair2.accessToken;
      const login2 = await http()
        .post('/v1/auth/login')
        .send({ email: EMAIL, password: PASSWORD_1 });
      expect(login2.status).toBe(200);
      const pair3 = bodyOf<TokenPairDto>(login2);
      addTokens('login 2', pair3);
      const sessions = await http()
        .get('/v1/auth/sessions')
        .set(...bearer(a2));
      expect((sessions.body as { items: unknown[] }).items).toHaveLength(2);
      await snapshot('refresh and second session');
      expect(sawVaultEntry).toBe(true);

      // Change the password (the other session ends), log out.
      const change = await http()
        .post('/v1/auth/password')
        .set(...bearer(a2))
        .send({ currentPassword: PASSWORD_1, newPassword: PASSWORD_2 });
      expect(change.status).toBe(204);
      expect(
        bodyOf<ProblemDetails>(
          await http()
            .get('/v1/me')
            .set(...bearer(pair3.accessToken)),
        ).code,
      ).toBe('session_locked');
      await snapshot('password change');
      expect(
        (
          await http()
            .post('/v1/auth/logout')
            .set(...bearer(a2))
        ).status,
      ).toBe(204);
      await snapshot('logout');

      // Recover with the code: a new code and password.
      const recover = await http().post('/v1/auth/recover').send({
        email: EMAIL,
        recoveryCode: registered.recoveryCode,
        newPassword: PASSWORD_3,
      });
      expect(recover.status).toBe(200);
      addRecoveryCode(
        'recovery code 2',
        bodyOf<RecoveryCodeDto>(recover).recoveryCode,
      );
      await snapshot('recover');

      // Log in again: the data survived; then delete the account.
      const login3 = await http()
        .post('/v1/auth/login')
        .send({ email: EMAIL, password: PASSWORD_3 });
      expect(login3.status).toBe(200);
      const pair4 = bodyOf<TokenPairDto>(login3);
      addTokens('login 3', pair4);
      expect(
        (
          await http()
            .get('/v1/me/profile')
            .set(...bearer(pair4.accessToken))
        ).body,
      ).toEqual({ ...PROFILE_2, ...PATCH_3 });
      await snapshot('login after recovery');
      const deletion = await http()
        .delete('/v1/me')
        .set(...bearer(pair4.accessToken))
        .send({ password: PASSWORD_3 });
      expect(deletion.status).toBe(204);
      await snapshot('delete');

      // The snapshots saw the data they were meant to search (not vacuous).
      for (const table of [
        'users',
        'user_data_keys',
        'profiles',
        'sessions',
        'audit_events',
      ])
        expect(tablesSeen).toContain(table);
      expect(
        snapshots.filter((dump) => dump.where.includes(' db:profiles#')).length,
      ).toBeGreaterThanOrEqual(5);
      expect(
        t.logs.filter(
          (line) =>
            (line.req as { path?: string } | undefined)?.path ===
            '/v1/auth/login',
        ).length,
      ).toBeGreaterThanOrEqual(4);
      // The most verbose level: any debug/trace line a future change adds is searched too.
      expect(t.config.logLevel).toBe('trace');
      if (redis) {
        // Crypto-shredding reaches the vault store: nothing of the account is left in Redis.
        const { dumps: left } = await dumpRedis(redis);
        expect(
          left.filter((dump) =>
            dump.text.some((text) => text.includes(userId)),
          ),
        ).toEqual([]);
      }

      const findings = findCanaries(canaries, [
        ...snapshots,
        ...dumpLogs(t.logs),
      ]);
      expect(findings).toEqual([]);
    });
  },
);
