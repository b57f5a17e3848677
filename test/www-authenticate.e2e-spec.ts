import request, { Response } from 'supertest';
import { ACCESS_TOKEN_TYPE } from '../src/auth/tokens/token.service';
import { ServerKeys } from '../src/config/server-keys';
import {
  bearer,
  registerAndLogin,
  type LoggedInUser,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { decodeJwt, forgeJwt } from './support/jwt-forge';
import { createTestApp, TestApp } from './support/test-app';

// docs/http-api.md#authentication: RFC 6750 §3 `WWW-Authenticate: Bearer` on every 401 of a route
// that needs an access token; none on the 401s of the routes whose credentials are in the body.

const NO_TOKEN_CHALLENGE = 'Bearer realm="vault-pii-api"';
const INVALID_TOKEN_CHALLENGE =
  'Bearer realm="vault-pii-api", error="invalid_token", error_description="The access token is invalid or has expired"';
const SESSION_ENDED_CHALLENGE =
  'Bearer realm="vault-pii-api", error="invalid_token", error_description="The session of this access token has ended; log in again"';

describe('WWW-Authenticate on 401 (RFC 6750 §3)', () => {
  let t: TestApp;
  let user: LoggedInUser;
  const http = () => request(t.app.getHttpServer());
  const profile = () => http().get('/v1/me/profile');
  const now = () => Math.floor(Date.now() / 1000);

  function expectChallenge(
    response: Response,
    code: string,
    challenge: string | undefined,
  ): void {
    expect({
      status: response.status,
      code: bodyOf<{ code: string }>(response).code,
      challenge: response.headers['www-authenticate'],
    }).toEqual({ status: 401, code, challenge });
  }

  beforeAll(async () => {
    t = await createTestApp();
    user = await registerAndLogin(t.app.getHttpServer());
  });
  afterAll(() => t?.close());

  it('no token: the bare challenge, without an error code (§3.1)', async () => {
    expectChallenge(await profile(), 'invalid_token', NO_TOKEN_CHALLENGE);
  });

  it('a valid token in the query string is ignored: the no-token challenge', async () => {
    expectChallenge(
      await http().get(
        `/v1/me/profile?access_token=${encodeURIComponent(user.accessToken)}`,
      ),
      'invalid_token',
      NO_TOKEN_CHALLENGE,
    );
  });

  it('another scheme (Basic) is no bearer token: the no-token challenge', async () => {
    expectChallenge(
      await profile().set('Authorization', 'Basic dXNlcjpwYXNz'),
      'invalid_token',
      NO_TOKEN_CHALLENGE,
    );
  });

  it.each([
    ['garbage', () => 'Bearer not-a-jwt'],
    ['two tokens', () => `Bearer ${user.accessToken} ${user.accessToken}`],
    ['the scheme alone', () => 'Bearer'],
    ['a refresh token', () => `Bearer ${user.refreshToken}`],
    [
      'an unsigned token (alg none)',
      () => {
        const { header, payload } = decodeJwt(user.accessToken);
        return `Bearer ${forgeJwt({ ...header, alg: 'none' }, payload, null)}`;
      },
    ],
    [
      'a token signed with another key',
      () => {
        const { header, payload } = decodeJwt(user.accessToken);
        return `Bearer ${forgeJwt(header, payload, Buffer.alloc(32, 7))}`;
      },
    ],
    [
      'an expired token signed with the real key',
      () => {
        const { payload } = decodeJwt(user.accessToken);
        return `Bearer ${forgeJwt(
          { alg: 'HS256', typ: ACCESS_TOKEN_TYPE },
          { ...payload, iat: now() - 700, exp: now() - 10 },
          t.app.get(ServerKeys).jwtSigningKey,
        )}`;
      },
    ],
  ])(
    'a bad token (%s): error="invalid_token", with a fixed description',
    async (_name, authorization) => {
      const value = authorization();
      const response = await profile().set('Authorization', value);
      expectChallenge(response, 'invalid_token', INVALID_TOKEN_CHALLENGE);
      // No part of the token, the account or its email comes back.
      const echoed = JSON.stringify(response.headers) + response.text;
      for (const secret of [
        ...value.split(/[ .]/).filter((part) => part.length > 8),
        user.email,
        user.userId,
      ])
        expect(echoed).not.toContain(secret);
    },
  );

  it('a locked session (logged out): invalid_token as well, since the token is revoked', async () => {
    const other = await registerAndLogin(t.app.getHttpServer());
    await http()
      .post('/v1/auth/logout')
      .set(...bearer(other.accessToken))
      .expect(204);
    expectChallenge(
      await profile().set(...bearer(other.accessToken)),
      'session_locked',
      SESSION_ENDED_CHALLENGE,
    );
  });

  it('a wrong current password on a protected route is no token failure: no challenge', async () => {
    expectChallenge(
      await http()
        .post('/v1/auth/password')
        .set(...bearer(user.accessToken))
        .send({
          currentPassword: 'not the right passphrase',
          newPassword: 'Another strong passphrase 9921',
        }),
      'invalid_credentials',
      undefined,
    );
  });

  it('the public routes’ 401s (login, refresh, recover) carry none: their credentials are in the body', async () => {
    expectChallenge(
      await http()
        .post('/v1/auth/login')
        .send({ email: user.email, password: 'not the right passphrase' }),
      'invalid_credentials',
      undefined,
    );
    expectChallenge(
      await http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: 'not a refresh token' }),
      'invalid_token',
      undefined,
    );
    expectChallenge(
      await http().post('/v1/auth/recover').send({
        email: user.email,
        recoveryCode: '0000000000000000000000000000',
        newPassword: 'Another strong passphrase 9921',
      }),
      'invalid_credentials',
      undefined,
    );
    // Even with a bearer header a public route does not challenge: it never reads it.
    expectChallenge(
      await http()
        .post('/v1/auth/login')
        .set('Authorization', 'Bearer not-a-jwt')
        .send({ email: user.email, password: 'not the right passphrase' }),
      'invalid_credentials',
      undefined,
    );
  });

  it('a successful request carries none', async () => {
    const response = await profile().set(...bearer(user.accessToken));
    expect(response.status).toBe(200);
    expect(response.headers['www-authenticate']).toBeUndefined();
  });
});
