import request from 'supertest';
import type { TokenPairDto } from '../src/auth/dto/auth.dto';
import { SessionService } from '../src/auth/sessions/session.service';
import { VaultUnavailableError } from '@vault-pii/nest-encryption';
import { bearer, login, registerAndLogin } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import {
  RedisServerProcess,
  redisServerMissingReason,
} from './support/redis-server-process';
import { createTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/wait-until';

/**
 * A revocation (password change, recovery, rotation, logout, a replayed refresh token) that meets
 * a Redis that does not answer fails with 503 — but the durable part has happened first: the
 * sessions are revoked in PostgreSQL, so none of them can refresh, whatever Redis does later.
 * Redis here is a `redis-server` of this file's own, frozen with SIGSTOP.
 */
const skipReason = redisServerMissingReason();
if (skipReason)
  console.warn(`session revocation outage e2e skipped: ${skipReason}`);

(skipReason ? describe.skip : describe)(
  `revoking sessions while Redis does not answer${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let redis: RedisServerProcess;
    let t: TestApp;
    const refresh = (refreshToken: string) =>
      request(t.app.getHttpServer())
        .post('/v1/auth/refresh')
        .send({ refreshToken });

    beforeAll(async () => {
      redis = await RedisServerProcess.start();
      t = await createTestApp({
        env: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300' },
      });
    });
    afterAll(async () => {
      redis?.thaw();
      await t?.close();
      await redis?.close();
    });

    it('revokes every session in the database before it fails on the vault, so no refresh token works afterwards', async () => {
      const user = await registerAndLogin(t.app.getHttpServer());
      const other = await login(t.app.getHttpServer(), user);

      redis.freeze();
      try {
        await expect(
          t.app.get(SessionService).revokeAllForUser(user.userId),
        ).rejects.toBeInstanceOf(VaultUnavailableError);
      } finally {
        redis.thaw();
      }

      const live = await t.dataSource.query<{ id: string }[]>(
        'SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL',
        [user.userId],
      );
      expect(live).toEqual([]);
      for (const session of [user, other]) {
        expectProblem(
          await refresh(session.refreshToken),
          401,
          'invalid_token',
          [session.refreshToken, session.accessToken],
        );
      }
      // Once Redis answers again (the app notices by itself), a second revocation clears the vault
      // entries: access tokens stop too.
      await waitUntil(
        'the vault is back',
        async () =>
          (await request(t.app.getHttpServer()).get('/health/ready')).status ===
          200,
        {
          timeoutMs: 10_000,
          intervalMs: 100,
        },
      );
      await t.app.get(SessionService).revokeAllForUser(user.userId);
      expectProblem(
        await request(t.app.getHttpServer())
          .get('/v1/me')
          .set(...bearer(other.accessToken)),
        401,
        'session_locked',
      );
    });

    it('a replayed refresh token is audited and its session revoked in the database, though the vault does not answer (503)', async () => {
      const user = await registerAndLogin(t.app.getHttpServer());
      const refreshed = await refresh(user.refreshToken);
      expect(refreshed.status).toBe(200);
      const next = bodyOf<TokenPairDto>(refreshed);

      redis.freeze();
      try {
        expectProblem(
          await refresh(user.refreshToken),
          503,
          'vault_unavailable',
          [user.refreshToken, next.refreshToken],
        );
      } finally {
        redis.thaw();
      }

      const events = await t.dataSource.query<{ outcome: string }[]>(
        `SELECT outcome FROM audit_events WHERE event = 'auth.refresh_reuse' AND user_id = $1`,
        [user.userId],
      );
      expect(events).toEqual([{ outcome: 'failure' }]);
      expectProblem(await refresh(next.refreshToken), 401, 'invalid_token', [
        next.refreshToken,
      ]);
    });
  },
);
