import { expect, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import type { SessionPageDto, TokenPairDto } from '../src/auth/dto/auth.dto';
import {
  ENDED_SESSION_GRACE_MS,
  SESSION_PURGE_BATCH_ROWS,
  SessionPurgeReport,
  SessionPurgeService,
} from '../src/auth/sessions/session-purge.service';
import { VAULT_STORE, type VaultStore } from '@vault-pii/nest-encryption';
import {
  bearer,
  login,
  LoggedInUser,
  registerUser,
  RegisteredUser,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { decodeJwt } from './support/jwt-forge';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';
import { deleteRunKeys, vaultStoreCases } from './support/vault-stores';

const LIMIT = 3;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The vault key of a session: the hex SHA-256 of the `sid` its access token carries. */
function sessionKeyIdOf(accessToken: string): string {
  const sid = decodeJwt(accessToken).payload.sid as string;
  return createHash('sha256')
    .update(Buffer.from(sid, 'base64url'))
    .digest('hex');
}

/**
 * Issue 15's session bounds (docs/sessions.md#sessions-per-user, docs/sessions.md#purge-of-ended-sessions,
 * docs/http-api.md#pagination): `SESSIONS_PER_USER_LIMIT` ends a user's oldest session when a login
 * would exceed it, race-free across concurrent logins and instances; a job deletes the rows of
 * ended sessions and never a live one; the session list is cursor-paginated. Against both vault
 * stores; with Redis, two instances share the database and the vault.
 */
describe.each(vaultStoreCases(11))(
  'sessions per user, session purge and session pages, %s vault store',
  (_store, storeEnv) => {
    if (!storeEnv) {
      it.skip('needs REDIS_URL (skipped: no Redis configured)', () =>
        undefined);
      return;
    }
    let t: TestApp;
    /** A second instance on the same database and (with Redis) the same vault. */
    let t2: TestApp;
    const http = (app: TestApp = t) => request(app.app.getHttpServer());
    const server = () => t.app.getHttpServer();
    const store = () => t.app.get<VaultStore>(VAULT_STORE);
    const shared = Boolean(storeEnv.REDIS_URL);

    beforeAll(async () => {
      const env = {
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        AUTH_RATE_LIMIT: '100000',
        LOGIN_FAILURE_LIMIT: '100000',
        // Eight concurrent logins queue for argon2id on a loaded 2-core machine.
        KDF_QUEUE_TIMEOUT_MS: '60000',
        SESSIONS_PER_USER_LIMIT: String(LIMIT),
        ...storeEnv,
      };
      t = await createTestApp({ env });
      if (shared) t2 = await createTestApp({ env, sharedDatabase: t.database });
    });
    afterAll(async () => {
      await t2?.close();
      await t?.close();
      await deleteRunKeys(storeEnv);
    });

    const me = (session: { accessToken: string }, app: TestApp = t) =>
      http(app)
        .get('/v1/me')
        .set(...bearer(session.accessToken));

    async function liveRows(userId: string): Promise<string[]> {
      const rows = await t.dataSource.query<{ key: string }[]>(
        `SELECT encode(sid_hash, 'hex') AS key FROM sessions
          WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()`,
        [userId],
      );
      return rows.map((row) => row.key).sort();
    }

    async function revokeEvents(userId: string): Promise<number> {
      const [{ count }] = await t.dataSource.query<{ count: number }[]>(
        `SELECT count(*)::int AS count FROM audit_events
          WHERE user_id = $1 AND event = 'auth.session_revoke' AND outcome = 'success'`,
        [userId],
      );
      return count;
    }

    describe('SESSIONS_PER_USER_LIMIT', () => {
      it(`the ${LIMIT + 1}th login ends the oldest session: its access and refresh tokens are refused, its vault entry is gone, the others live`, async () => {
        const user = await registerUser(server());
        const sessions: LoggedInUser[] = [];
        for (let i = 0; i < LIMIT; i++)
          sessions.push(await login(server(), user));
        expect(await revokeEvents(user.userId)).toBe(0);
        const [oldest, ...others] = sessions;

        const newest = await login(server(), user);

        expectProblem(await me(oldest), 401, 'session_locked', [
          oldest.accessToken,
          user.email,
        ]);
        expectProblem(
          await http()
            .post('/v1/auth/refresh')
            .send({ refreshToken: oldest.refreshToken }),
          401,
          'invalid_token',
          [oldest.refreshToken],
        );
        expect(
          await store().get(sessionKeyIdOf(oldest.accessToken)),
        ).toBeUndefined();
        for (const session of [...others, newest]) {
          expect((await me(session)).status).toBe(200);
          expect(
            await store().get(sessionKeyIdOf(session.accessToken)),
          ).toBeInstanceOf(Buffer);
        }
        expect(await liveRows(user.userId)).toEqual(
          [...others, newest].map((s) => sessionKeyIdOf(s.accessToken)).sort(),
        );
        // Audited like a revocation by the user, in the login's request.
        expect(await revokeEvents(user.userId)).toBe(1);

        const listed = bodyOf<SessionPageDto>(
          await http()
            .get('/v1/auth/sessions')
            .set(...bearer(newest.accessToken)),
        ).items;
        expect(listed).toHaveLength(LIMIT);
        expect(listed.filter((s) => s.current)).toHaveLength(1);
      });

      it('a session that has surely idled out is ended before an older live one', async () => {
        const user = await registerUser(server());
        const [a, b, c] = [
          await login(server(), user),
          await login(server(), user),
          await login(server(), user),
        ];
        // b was last used (login or refresh) two days ago: its vault entry has expired long since.
        await t.dataSource.query(
          `UPDATE sessions SET last_used_at = now() - interval '2 days' WHERE sid_hash = $1`,
          [Buffer.from(sessionKeyIdOf(b.accessToken), 'hex')],
        );
        const d = await login(server(), user);
        expect(await liveRows(user.userId)).toEqual(
          [a, c, d].map((s) => sessionKeyIdOf(s.accessToken)).sort(),
        );
        expect((await me(a)).status).toBe(200);
        expectProblem(await me(b), 401, 'session_locked');
      });

      it(`concurrent logins${shared ? ' on two instances' : ''} never leave more than ${LIMIT} sessions live`, async () => {
        const user = await registerUser(server());
        const apps = shared ? [t, t2] : [t];
        const pairs = await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const response = await http(apps[i % apps.length])
              .post('/v1/auth/login')
              .send({ email: user.email, password: user.password });
            expect(response.status).toBe(200);
            return bodyOf<TokenPairDto>(response);
          }),
        );
        const live = await liveRows(user.userId);
        expect(live).toHaveLength(LIMIT);
        // Exactly the sessions whose rows are live still open: the others' vault entries are gone.
        const statuses = await Promise.all(
          pairs.map(async (pair) => ({
            live: live.includes(sessionKeyIdOf(pair.accessToken)),
            status: (await me(pair)).status,
          })),
        );
        for (const { live, status } of statuses)
          expect(status).toBe(live ? 200 : 401);
        expect(await revokeEvents(user.userId)).toBe(8 - LIMIT);
      });
    });

    describe('purge of ended sessions', () => {
      /** Inserts a session row as the database would hold it; returns its id. */
      async function insertRow(
        userId: string,
        times: {
          createdAt?: Date;
          lastUsedAt: Date;
          expiresAt: Date;
          revokedAt?: Date;
        },
      ): Promise<string> {
        const [{ id }] = await t.dataSource.query<{ id: string }[]>(
          `INSERT INTO sessions (user_id, sid_hash, refresh_token_hash, created_at, last_used_at, expires_at, revoked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
          [
            userId,
            randomBytes(32),
            randomBytes(32),
            times.createdAt ?? times.lastUsedAt,
            times.lastUsedAt,
            times.expiresAt,
            times.revokedAt ?? null,
          ],
        );
        return id;
      }

      async function idsOf(userId: string): Promise<string[]> {
        const rows = await t.dataSource.query<{ id: string }[]>(
          'SELECT id FROM sessions WHERE user_id = $1',
          [userId],
        );
        return rows.map((row) => row.id).sort();
      }

      it('deletes rows ended (revoked, expired, idled out) longer than the grace period ago; keeps live and recently ended ones', async () => {
        const user = await registerUser(server());
        const live = await login(server(), user);
        const now = Date.now();
        const at = (offsetMs: number) => new Date(now + offsetMs);
        // Idle + access token lifetime: after that, a session's vault entry has surely expired.
        const idleEndMs =
          (t.config.sessionIdleTtlSeconds + t.config.accessTokenTtlSeconds) *
          1000;
        const past = ENDED_SESSION_GRACE_MS + 10 * MINUTE;
        const recent = 10 * MINUTE;
        // Each row meets one condition only: last used recently enough not to have idled out,
        // except the idle ones.
        const gone = [
          await insertRow(user.userId, {
            lastUsedAt: at(-past - MINUTE),
            expiresAt: at(6 * HOUR),
            revokedAt: at(-past),
          }),
          await insertRow(user.userId, {
            createdAt: at(-13 * HOUR),
            lastUsedAt: at(-past - MINUTE),
            expiresAt: at(-past),
          }),
          await insertRow(user.userId, {
            lastUsedAt: at(-idleEndMs - past),
            expiresAt: at(6 * HOUR),
          }),
        ];
        const kept = [
          await insertRow(user.userId, {
            lastUsedAt: at(-recent - MINUTE),
            expiresAt: at(6 * HOUR),
            revokedAt: at(-recent),
          }),
          await insertRow(user.userId, {
            createdAt: at(-12 * HOUR),
            lastUsedAt: at(-recent - MINUTE),
            expiresAt: at(-recent),
          }),
          await insertRow(user.userId, {
            lastUsedAt: at(-idleEndMs - recent),
            expiresAt: at(6 * HOUR),
          }),
          // Eleven hours old, refreshed a minute ago: live.
          await insertRow(user.userId, {
            createdAt: at(-11 * HOUR),
            lastUsedAt: at(-MINUTE),
            expiresAt: at(HOUR),
          }),
        ];
        const before = await idsOf(user.userId);
        expect(before).toHaveLength(gone.length + kept.length + 1);

        const logged = jest.spyOn(Logger.prototype, 'log');
        let report: SessionPurgeReport;
        let lines: unknown[][];
        try {
          report = await t.app.get(SessionPurgeService).run(new Date(now));
          lines = logged.mock.calls.filter(
            ([, message]) => message === 'session purge run',
          );
        } finally {
          logged.mockRestore();
        }
        // One log line per run, with counts only (no user or session id).
        expect(lines).toEqual([
          [
            {
              deleted: report.deleted,
              batches: report.batches,
              durationMs: expect.any(Number),
            },
            'session purge run',
          ],
        ]);
        expect(report.deleted).toBeGreaterThanOrEqual(gone.length);

        const after = await idsOf(user.userId);
        expect(after).toEqual(before.filter((id) => !gone.includes(id)));
        for (const id of kept) expect(after).toContain(id);
        // The live session works on, refresh included.
        expect((await me(live)).status).toBe(200);
        expect(
          (
            await http()
              .post('/v1/auth/refresh')
              .send({ refreshToken: live.refreshToken })
          ).status,
        ).toBe(200);
      });

      it(`deletes in batches of ${SESSION_PURGE_BATCH_ROWS}; two runs at once${shared ? ' (two instances)' : ''} share the work and delete each row once`, async () => {
        const user = await registerUser(server());
        const live = await login(server(), user);
        const ended = 2 * SESSION_PURGE_BATCH_ROWS + 500;
        await t.dataSource.query(
          `INSERT INTO sessions (user_id, sid_hash, refresh_token_hash, last_used_at, expires_at, revoked_at)
           SELECT $1, sha256(('s' || g || $2)::bytea), sha256(('r' || g || $2)::bytea),
                  now() - interval '3 hours', now() + interval '6 hours', now() - interval '2 hours'
             FROM generate_series(1, $3) AS g`,
          [user.userId, randomBytes(8).toString('hex'), ended],
        );
        const purgers = [t, shared ? t2 : t].map((app) =>
          app.app.get(SessionPurgeService),
        );
        const now = new Date();
        const reports = await Promise.all(purgers.map((p) => p.run(now)));
        const deleted = reports.reduce((sum, r) => sum + r.deleted, 0);
        expect(deleted).toBeGreaterThanOrEqual(ended);
        expect(Math.max(...reports.map((r) => r.batches))).toBeGreaterThan(1);
        expect(await liveRows(user.userId)).toEqual([
          sessionKeyIdOf(live.accessToken),
        ]);
        const [{ count }] = await t.dataSource.query<{ count: number }[]>(
          'SELECT count(*)::int AS count FROM sessions WHERE user_id = $1',
          [user.userId],
        );
        expect(count).toBe(1);
        expect((await me(live)).status).toBe(200);
      });
    });

    describe('GET /v1/auth/sessions pages', () => {
      let user: RegisteredUser;
      let current: LoggedInUser;
      /** Every live session of the user, newest first by (createdAt, id). */
      let expected: string[];

      beforeAll(async () => {
        user = await registerUser(server());
        current = await login(server(), user);
        // 24 more rows (beyond the per-user limit: the cap acts on login only), three in each
        // millisecond at different microseconds: pages compare milliseconds, then ids.
        const base = Date.now() - HOUR;
        for (let i = 0; i < 24; i++) {
          const micros = (i % 3) * 100; // three rows per millisecond
          const ms = base + Math.floor(i / 6) * 1000 + (i % 2);
          await t.dataSource.query(
            `INSERT INTO sessions (user_id, sid_hash, refresh_token_hash, created_at, last_used_at, expires_at)
             VALUES ($1, $2, $3, $4::timestamptz + make_interval(secs => $5::float8 / 1e6), now(), now() + interval '6 hours')`,
            [
              user.userId,
              randomBytes(32),
              randomBytes(32),
              new Date(ms),
              micros,
            ],
          );
        }
        // Ended sessions are not listed.
        await t.dataSource.query(
          `INSERT INTO sessions (user_id, sid_hash, refresh_token_hash, last_used_at, expires_at, revoked_at)
           VALUES ($1, $2, $3, now(), now() + interval '1 hour', now()),
                  ($1, $4, $5, now(), now() - interval '1 second', NULL)`,
          [
            user.userId,
            randomBytes(32),
            randomBytes(32),
            randomBytes(32),
            randomBytes(32),
          ],
        );
        const rows = await t.dataSource.query<{ id: string }[]>(
          `SELECT id FROM sessions
            WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
            ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC`,
          [user.userId],
        );
        expected = rows.map((row) => row.id);
        expect(expected).toHaveLength(25);
      });

      const list = (query = '') =>
        http()
          .get(`/v1/auth/sessions${query}`)
          .set(...bearer(current.accessToken));

      it('walks every live session once, newest first, without repeats or gaps', async () => {
        const first = bodyOf<SessionPageDto>(await list());
        expect(first.items).toHaveLength(20);
        expect(typeof first.nextCursor).toBe('string');
        expect(first.items[0].current).toBe(true);

        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const response = await list(
            `?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
          );
          expect(response.status).toBe(200);
          const page = bodyOf<SessionPageDto>(response);
          expect(page.items.length).toBeLessThanOrEqual(4);
          for (const item of page.items)
            expect(Object.keys(item).sort()).toEqual([
              'createdAt',
              'current',
              'expiresAt',
              'id',
              'lastUsedAt',
            ]);
          seen.push(...page.items.map((item) => item.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor && pages < 20);
        expect(seen).toEqual(expected);

        const whole = bodyOf<SessionPageDto>(await list('?limit=100'));
        expect(whole.items.map((item) => item.id)).toEqual(expected);
        expect(whole.nextCursor).toBeNull();
        expect(
          bodyOf<SessionPageDto>(await list('?limit=25')).nextCursor,
        ).toBeNull();
        expect(bodyOf<SessionPageDto>(await list('?limit=1')).items).toEqual([
          expect.objectContaining({ id: expected[0], current: true }),
        ]);
      });

      it.each([
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=abc', 'limit'],
        ['limit=1.5', 'limit'],
        ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
        ['cursor=' + 'A'.repeat(201), 'cursor'],
        // Well-formed, but dated before 4714 BC: PostgreSQL's timestamp cannot hold it.
        [
          `cursor=${Buffer.from('-005000-01-01T00:00:00.000Z|0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10').toString('base64url')}`,
          'cursor',
        ],
        ['unknown=1', 'unknown'],
      ])(
        'refuses the query %s: 400 problem+json naming %s',
        async (query, field) => {
          const response = await list(`?${query}`);
          expectProblem(response, 400, 'validation_failed', [
            current.accessToken,
            user.email,
          ]);
          expect(
            bodyOf<{ errors: { field: string }[] }>(response).errors.map(
              (e) => e.field,
            ),
          ).toContain(field);
        },
      );

      it('a cursor made from another user’s session id shows only the caller’s sessions', async () => {
        const other = await login(server(), await registerUser(server()));
        const otherId = bodyOf<SessionPageDto>(
          await http()
            .get('/v1/auth/sessions')
            .set(...bearer(other.accessToken)),
        ).items[0].id;
        const forged = Buffer.from(
          `${new Date(Date.now() + HOUR).toISOString()}|${otherId}`,
        ).toString('base64url');
        const page = bodyOf<SessionPageDto>(await list(`?cursor=${forged}`));
        expect(page.items.map((item) => item.id)).toEqual(
          expected.slice(0, 20),
        );
      });
    });
  },
);
