import { expect } from '@jest/globals';
import request from 'supertest';
import type {
  RecoveryCodeDto,
  SessionPageDto,
  TokenPairDto,
} from '../src/auth/dto/auth.dto';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import type { ProfileDto } from '../src/profile/dto/profile.dto';
import {
  bearer,
  login,
  registerAndLogin,
  registerUser,
  STRONG_PASSWORD,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

describe('auth and account lifecycle (docs/http-api.md)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const server = () => t.app.getHttpServer();

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  describe('register', () => {
    it('creates an account, normalises the email, and returns a recovery code once', async () => {
      const response = await http()
        .post('/v1/auth/register')
        .send({
          email: '  Grace.Hopper@Example.ORG ',
          password: STRONG_PASSWORD,
          profile: { fullName: 'Grace Hopper' },
        });
      expect(response.status).toBe(201);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.body).toEqual({
        userId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        email: 'grace.hopper@example.org',
        recoveryCode: expect.stringMatching(/^([0-9A-Z]{4}-){6}[0-9A-Z]{4}$/),
      });
    });

    it('answers 409 email_taken for the same email in another case', async () => {
      const user = await registerUser(server());
      const response = await http()
        .post('/v1/auth/register')
        .send({ email: user.email.toUpperCase(), password: STRONG_PASSWORD });
      expect(response.status).toBe(409);
      expect(bodyOf<ProblemDetails>(response).code).toBe('email_taken');
    });

    it.each([
      [
        'a short password',
        { email: 'a@example.org', password: 'short' },
        'password',
      ],
      [
        'a common password',
        { email: 'a@example.org', password: 'passwordpassword' },
        'password',
      ],
      [
        'a bad email',
        { email: 'not-an-email', password: STRONG_PASSWORD },
        'email',
      ],
      [
        'an unknown field',
        { email: 'a@example.org', password: STRONG_PASSWORD, isAdmin: true },
        'isAdmin',
      ],
      [
        'a wrong type',
        { email: 'a@example.org', password: 123456789012345 },
        'password',
      ],
      [
        'a bad profile date',
        {
          email: 'a@example.org',
          password: STRONG_PASSWORD,
          profile: { dateOfBirth: '10/12/1815' },
        },
        'profile.dateOfBirth',
      ],
    ])('answers 400 for %s', async (_name, body, field) => {
      const response = await http().post('/v1/auth/register').send(body);
      expect(response.status).toBe(400);
      expect(bodyOf<ProblemDetails>(response).code).toBe('validation_failed');
      expect(
        bodyOf<ProblemDetails>(response).errors?.map((e) => e.field),
      ).toContain(field);
      expect(JSON.stringify(response.body)).not.toContain(STRONG_PASSWORD);
    });
  });

  describe('login', () => {
    it('returns a token pair that opens /v1/me', async () => {
      const user = await registerAndLogin(server());
      const me = await http()
        .get('/v1/me')
        .set(...bearer(user.accessToken));
      expect(me.status).toBe(200);
      expect(me.body).toEqual({
        userId: user.userId,
        email: user.email,
        createdAt: expect.any(String),
        keyVersion: 1,
        keyRotation: null,
      });
      expect(me.headers['cache-control']).toBe('no-store');
    });

    it('answers a wrong password and an unknown email with the same 401 body', async () => {
      const user = await registerUser(server());
      const wrong = await http()
        .post('/v1/auth/login')
        .send({ email: user.email, password: 'not the right passphrase' });
      const unknown = await http().post('/v1/auth/login').send({
        email: 'nobody@example.org',
        password: 'not the right passphrase',
      });
      for (const response of [wrong, unknown]) {
        expect(response.status).toBe(401);
        expect(bodyOf<ProblemDetails>(response).code).toBe(
          'invalid_credentials',
        );
      }
      const strip = (body: object) => ({ ...body, requestId: undefined });
      expect(strip(bodyOf<ProblemDetails>(wrong))).toEqual(
        strip(bodyOf<ProblemDetails>(unknown)),
      );
    });

    it('rejects routes without a token (deny by default)', async () => {
      for (const path of ['/v1/me', '/v1/me/profile', '/v1/auth/sessions']) {
        const response = await http().get(path);
        expect(response.status).toBe(401);
        expect(bodyOf<ProblemDetails>(response).code).toBe('invalid_token');
      }
    });
  });

  describe('profile', () => {
    it('starts empty, is replaced by PUT, changed by PATCH, and stored encrypted', async () => {
      const user = await registerAndLogin(server());
      const empty = await http()
        .get('/v1/me/profile')
        .set(...bearer(user.accessToken));
      expect(empty.body).toEqual({
        fullName: null,
        dateOfBirth: null,
        phone: null,
        address: null,
        nationalId: null,
      });

      const full = {
        fullName: 'Ada Lovelace',
        dateOfBirth: '1815-12-10',
        phone: '+44 20 7946 0958',
        address: '12 St James’s Square',
        nationalId: 'QQ123456C',
      };
      const put = await http()
        .put('/v1/me/profile')
        .set(...bearer(user.accessToken))
        .send(full);
      expect(put.status).toBe(200);
      expect(put.body).toEqual(full);

      const patch = await http()
        .patch('/v1/me/profile')
        .set(...bearer(user.accessToken))
        .send({ phone: null, address: 'Somerset' });
      expect(patch.body).toEqual({ ...full, phone: null, address: 'Somerset' });

      const [row] = await t.dataSource.query<Record<string, unknown>[]>(
        'SELECT * FROM profiles WHERE user_id = $1',
        [user.userId],
      );
      expect(JSON.stringify(row)).not.toMatch(
        /Ada|Lovelace|QQ123456C|Somerset/,
      );
    });

    it('concurrent first writes of a profile that has no row yet all succeed (no 500 on the insert race)', async () => {
      for (const method of ['put', 'patch'] as const) {
        const user = await registerAndLogin(server());
        const answers = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            http()
              [method]('/v1/me/profile')
              .set(...bearer(user.accessToken))
              .send({
                fullName: `Writer ${i}`,
                dateOfBirth: null,
                phone: null,
                address: null,
                nationalId: null,
              }),
          ),
        );
        expect(answers.map((answer) => answer.status)).toEqual(
          Array(8).fill(200),
        );
        const [{ n }] = await t.dataSource.query<{ n: number }[]>(
          'SELECT count(*)::int AS n FROM profiles WHERE user_id = $1',
          [user.userId],
        );
        expect(n).toBe(1);
      }
    });

    it('PUT requires every field; bad values answer 400', async () => {
      const user = await registerAndLogin(server());
      const missing = await http()
        .put('/v1/me/profile')
        .set(...bearer(user.accessToken))
        .send({ fullName: 'Only a name' });
      expect(missing.status).toBe(400);
      const bad = await http()
        .patch('/v1/me/profile')
        .set(...bearer(user.accessToken))
        .send({ phone: 'call me maybe' });
      expect(bad.status).toBe(400);
      expect(bodyOf<ProblemDetails>(bad).errors?.map((e) => e.field)).toEqual([
        'phone',
      ]);
    });
  });

  describe('refresh and logout', () => {
    it('rotates the refresh token; reusing a spent one revokes the session at once', async () => {
      const user = await registerAndLogin(server());
      const first = await http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: user.refreshToken });
      expect(first.status).toBe(200);
      expect(bodyOf<TokenPairDto>(first).refreshToken).not.toBe(
        user.refreshToken,
      );
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(bodyOf<TokenPairDto>(first).accessToken))
        ).status,
      ).toBe(200);

      const replay = await http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: user.refreshToken });
      expect(replay.status).toBe(401);
      expect(bodyOf<ProblemDetails>(replay).code).toBe('invalid_token');
      // The newest access token of that session stops working too.
      const after = await http()
        .get('/v1/me')
        .set(...bearer(bodyOf<TokenPairDto>(first).accessToken));
      expect(after.status).toBe(401);
      expect(bodyOf<ProblemDetails>(after).code).toBe('session_locked');
      expect(
        (
          await http()
            .post('/v1/auth/refresh')
            .send({ refreshToken: bodyOf<TokenPairDto>(first).refreshToken })
        ).status,
      ).toBe(401);
    });

    it('logout ends this session only', async () => {
      const user = await registerUser(server());
      const a = await login(server(), user);
      const b = await login(server(), user);
      expect(
        (
          await http()
            .post('/v1/auth/logout')
            .set(...bearer(a.accessToken))
        ).status,
      ).toBe(204);
      expect(
        bodyOf<ProblemDetails>(
          await http()
            .get('/v1/me')
            .set(...bearer(a.accessToken)),
        ).code,
      ).toBe('session_locked');
      expect(
        (
          await http()
            .post('/v1/auth/refresh')
            .send({ refreshToken: a.refreshToken })
        ).status,
      ).toBe(401);
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(b.accessToken))
        ).status,
      ).toBe(200);
    });
  });

  describe('routes without a body', () => {
    it('reject body fields like any unknown field (400), and do nothing', async () => {
      const user = await registerAndLogin(server());
      const logout = await http()
        .post('/v1/auth/logout')
        .set(...bearer(user.accessToken))
        .send({ everywhere: true });
      expect(logout.status).toBe(400);
      expect(bodyOf<ProblemDetails>(logout).errors).toEqual([
        {
          field: 'everywhere',
          pointer: '#/everywhere',
          messages: ['property everywhere should not exist'],
        },
      ]);
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(user.accessToken))
        ).status,
      ).toBe(200);
      const get = await http()
        .get('/v1/me')
        .set(...bearer(user.accessToken))
        .send([1, 2]);
      expect(get.status).toBe(400);
      expect(bodyOf<ProblemDetails>(get).code).toBe('validation_failed');
    });
  });

  describe('sessions', () => {
    it('lists own sessions without secrets and revokes one; another user’s id is 404', async () => {
      const user = await registerUser(server());
      const a = await login(server(), user);
      const b = await login(server(), user);
      const list = await http()
        .get('/v1/auth/sessions')
        .set(...bearer(a.accessToken));
      const { items: sessions, nextCursor } = bodyOf<SessionPageDto>(list);
      expect(sessions).toHaveLength(2);
      expect(nextCursor).toBeNull();
      expect(sessions.filter((s) => s.current)).toHaveLength(1);
      expect(Object.keys(sessions[0]).sort()).toEqual([
        'createdAt',
        'current',
        'expiresAt',
        'id',
        'lastUsedAt',
      ]);

      const other = await registerAndLogin(server());
      const otherId = bodyOf<SessionPageDto>(
        await http()
          .get('/v1/auth/sessions')
          .set(...bearer(other.accessToken)),
      ).items[0].id;
      expect(
        (
          await http()
            .delete(`/v1/auth/sessions/${otherId}`)
            .set(...bearer(a.accessToken))
        ).status,
      ).toBe(404);
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(other.accessToken))
        ).status,
      ).toBe(200);
      expect(
        (
          await http()
            .delete('/v1/auth/sessions/not-a-uuid')
            .set(...bearer(a.accessToken))
        ).status,
      ).toBe(404);

      const bId = sessions.find((s) => !s.current)?.id;
      expect(
        (
          await http()
            .delete(`/v1/auth/sessions/${bId}`)
            .set(...bearer(a.accessToken))
        ).status,
      ).toBe(204);
      expect(
        bodyOf<ProblemDetails>(
          await http()
            .get('/v1/me')
            .set(...bearer(b.accessToken)),
        ).code,
      ).toBe('session_locked');
    });
  });

  describe('password change and recovery', () => {
    it('re-wraps the keys: data intact, new password works, other sessions end, this one stays', async () => {
      const user = await registerUser(server(), {
        profile: { fullName: 'Katherine Johnson' },
      });
      const a = await login(server(), user);
      const b = await login(server(), user);
      const newPassword = 'an entirely new passphrase 2024';
      const change = await http()
        .post('/v1/auth/password')
        .set(...bearer(a.accessToken))
        .send({ currentPassword: user.password, newPassword });
      expect(change.status).toBe(204);
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(a.accessToken))
        ).status,
      ).toBe(200);
      expect(
        bodyOf<ProblemDetails>(
          await http()
            .get('/v1/me')
            .set(...bearer(b.accessToken)),
        ).code,
      ).toBe('session_locked');
      expect(
        (
          await http()
            .post('/v1/auth/login')
            .send({ email: user.email, password: user.password })
        ).status,
      ).toBe(401);
      const again = await login(server(), { ...user, password: newPassword });
      expect(
        bodyOf<ProfileDto>(
          await http()
            .get('/v1/me/profile')
            .set(...bearer(again.accessToken)),
        ).fullName,
      ).toBe('Katherine Johnson');
    });

    it('a wrong current password answers 401 and changes nothing', async () => {
      const user = await registerAndLogin(server());
      const response = await http()
        .post('/v1/auth/password')
        .set(...bearer(user.accessToken))
        .send({
          currentPassword: 'wrong current passphrase',
          newPassword: 'an entirely new passphrase 2024',
        });
      expect(response.status).toBe(401);
      expect((await login(server(), user)).accessToken).toBeDefined();
    });

    it('recovers with the code: new code, old code dead, all sessions end, data intact', async () => {
      const user = await registerUser(server(), {
        profile: { nationalId: 'AB123456C' },
      });
      const session = await login(server(), user);
      const newPassword = 'recovered passphrase for 2025';
      const recover = await http()
        .post('/v1/auth/recover')
        .send({
          email: user.email,
          recoveryCode: user.recoveryCode.toLowerCase().replace(/-/g, ' '),
          newPassword,
        });
      expect(recover.status).toBe(200);
      expect(bodyOf<RecoveryCodeDto>(recover).recoveryCode).not.toBe(
        user.recoveryCode,
      );
      expect(
        bodyOf<ProblemDetails>(
          await http()
            .get('/v1/me')
            .set(...bearer(session.accessToken)),
        ).code,
      ).toBe('session_locked');

      const again = await login(server(), { ...user, password: newPassword });
      expect(
        bodyOf<ProfileDto>(
          await http()
            .get('/v1/me/profile')
            .set(...bearer(again.accessToken)),
        ).nationalId,
      ).toBe('AB123456C');
      const reuse = await http().post('/v1/auth/recover').send({
        email: user.email,
        recoveryCode: user.recoveryCode,
        newPassword: 'yet another passphrase 2026',
      });
      expect(reuse.status).toBe(401);
      expect(bodyOf<ProblemDetails>(reuse).code).toBe('invalid_credentials');
    });

    it('a wrong code or unknown email answers the same 401', async () => {
      const user = await registerUser(server());
      const body = { newPassword: 'recovered passphrase for 2025' };
      const wrong = await http()
        .post('/v1/auth/recover')
        .send({
          ...body,
          email: user.email,
          recoveryCode: 'ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345',
        });
      const unknown = await http()
        .post('/v1/auth/recover')
        .send({
          ...body,
          email: 'nobody@example.org',
          recoveryCode: user.recoveryCode,
        });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(bodyOf<ProblemDetails>(wrong).code).toBe(
        bodyOf<ProblemDetails>(unknown).code,
      );
    });
  });

  describe('account deletion', () => {
    it('needs the password, shreds everything, and frees the email', async () => {
      const user = await registerUser(server(), {
        profile: { fullName: 'To Be Deleted' },
      });
      const session = await login(server(), user);
      expect(
        (
          await http()
            .delete('/v1/me')
            .set(...bearer(session.accessToken))
            .send({ password: 'wrong passphrase here' })
        ).status,
      ).toBe(401);
      expect(
        (
          await http()
            .delete('/v1/me')
            .set(...bearer(session.accessToken))
            .send({ password: user.password })
        ).status,
      ).toBe(204);
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(session.accessToken))
        ).status,
      ).toBe(401);
      expect(
        (
          await http()
            .post('/v1/auth/login')
            .send({ email: user.email, password: user.password })
        ).status,
      ).toBe(401);
      for (const table of ['users', 'user_data_keys', 'profiles', 'sessions']) {
        const column = table === 'users' ? 'id' : 'user_id';
        const [{ count }] = await t.dataSource.query<{ count: number }[]>(
          `SELECT count(*)::int AS count FROM ${table} WHERE ${column} = $1`,
          [user.userId],
        );
        expect(count).toBe(0);
      }
      const events = await t.dataSource.query<
        { event: string; outcome: string }[]
      >(
        'SELECT event, outcome FROM audit_events WHERE user_id = $1 ORDER BY id',
        [user.userId],
      );
      expect(events).toContainEqual({
        event: 'account.delete',
        outcome: 'success',
      });
      await registerUser(server(), { email: user.email });
    });
  });
});
