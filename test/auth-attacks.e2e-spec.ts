import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import type { SessionPageDto, TokenPairDto } from '../src/auth/dto/auth.dto';
import {
  ACCESS_TOKEN_TYPE,
  JWT_AUDIENCE,
  JWT_ISSUER,
} from '../src/auth/tokens/token.service';
import { SPENT_REFRESH_TOKENS_KEPT } from '../src/auth/sessions/session.service';
import { ServerKeys } from '../src/config/server-keys';
import type { ProfileDto } from '../src/profile/dto/profile.dto';
import type { MeDto } from '../src/me/me.controller';
import {
  bearer,
  login,
  LoggedInUser,
  registerAndLogin,
  registerUser,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import {
  decodeJwt,
  forgeJwt,
  JsonObject,
  swapPayload,
} from './support/jwt-forge';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';
import { deleteRunKeys, vaultStoreCases } from './support/vault-stores';
import { VAULT_STORE } from '@vault-pii/nest-encryption';

/**
 * An attacker's view of the token and session machinery (docs/sessions.md and docs/security.md).
 * Every attack must end in a 401 problem+json (`invalid_token`, or `session_locked` once a
 * signature is genuine but the session's keys cannot be had) that carries none of the victim's data
 * or the presented secret. Each suite first proves its forging tools produce tokens the server
 * accepts, so a 401 below means the attack was refused, not that the test built garbage.
 */
describe.each(vaultStoreCases(10))(
  'auth attacks (docs/sessions.md and docs/security.md), %s vault store',
  (_store, storeEnv) => {
    if (!storeEnv) {
      it.skip('needs REDIS_URL (skipped: no Redis configured)', () =>
        undefined);
      return;
    }
    let t: TestApp;
    let realKey: KeyObject;
    let victim: LoggedInUser;
    let attacker: LoggedInUser;
    const http = () => request(t.app.getHttpServer());
    const server = () => t.app.getHttpServer();

    const VICTIM_PROFILE = {
      fullName: 'Victoria Victimsdottir',
      nationalId: 'VICTIM-77123',
      phone: '+44 7700 900123',
    };
    /** Must never appear in an answer to someone else's request. */
    const victimSecrets = () => [
      victim.email,
      victim.password,
      victim.recoveryCode,
      victim.accessToken,
      victim.refreshToken,
      ...Object.values(VICTIM_PROFILE),
    ];

    beforeAll(async () => {
      // High limits: this file makes many auth requests from one address on purpose.
      t = await createTestApp({
        env: {
          AUTH_RATE_LIMIT: '100000',
          LOGIN_FAILURE_LIMIT: '100000',
          ...storeEnv,
        },
      });
      realKey = t.app.get(ServerKeys).jwtSigningKey;
      victim = await registerAndLogin(server(), { profile: VICTIM_PROFILE });
      attacker = await registerAndLogin(server());
    });
    afterAll(async () => {
      await t?.close();
      await deleteRunKeys(storeEnv);
    });

    it('runs against the intended vault store', () => {
      expect(t.app.get<object>(VAULT_STORE).constructor.name).toBe(
        storeEnv.REDIS_URL ? 'RedisVaultStore' : 'MemoryVaultStore',
      );
    });

    /** The header and claims of one of the attacker's own genuine access tokens. */
    const genuine = () => decodeJwt(attacker.accessToken);
    const now = () => Math.floor(Date.now() / 1000);

    /** Signs claims exactly as the server does (HS256, real key), with overridable header and options. */
    function signWithRealKey(
      payload: JsonObject,
      header: JsonObject = { alg: 'HS256', typ: ACCESS_TOKEN_TYPE },
    ): string {
      return forgeJwt(header, payload, realKey);
    }

    async function expectRejected(
      authorization: string | undefined,
      code: 'invalid_token' | 'session_locked',
      extraSecrets: string[] = [],
    ) {
      for (const path of ['/v1/me/profile', '/v1/me']) {
        const req = http().get(path);
        if (authorization !== undefined)
          req.set('Authorization', authorization);
        const response = await req;
        expectProblem(response, 401, code, [
          ...victimSecrets(),
          ...extraSecrets,
        ]);
      }
    }

    async function expectWorks(accessToken: string): Promise<request.Response> {
      const response = await http()
        .get('/v1/me/profile')
        .set(...bearer(accessToken));
      expect(response.status).toBe(200);
      return response;
    }

    describe('forged and tampered access tokens', () => {
      it('control: a token re-built by the test with the real key and the genuine claims is accepted', async () => {
        const { header, payload } = genuine();
        await expectWorks(forgeJwt(header, payload, realKey));
        await expectWorks(
          jwt.sign(payload, realKey, {
            algorithm: 'HS256',
            header: { alg: 'HS256', typ: ACCESS_TOKEN_TYPE },
          }),
        );
      });

      it.each(['none', 'None', 'NONE', 'nOnE'])(
        'rejects an unsigned token (alg: %s) with the same claims',
        async (alg) => {
          const { payload } = genuine();
          const token = forgeJwt(
            { alg, typ: ACCESS_TOKEN_TYPE },
            payload,
            null,
          );
          await expectRejected(`Bearer ${token}`, 'invalid_token', [token]);
          // …and with the genuine signature left on.
          await expectRejected(
            `Bearer ${token}${attacker.accessToken.split('.')[2]}`,
            'invalid_token',
          );
        },
      );

      it.each([
        ['HS512', 'sha512'],
        ['HS384', 'sha384'],
      ] as const)(
        'rejects %s, even when MAC-ed with the real key',
        async (alg, hash) => {
          const token = forgeJwt(
            { alg, typ: ACCESS_TOKEN_TYPE },
            genuine().payload,
            realKey,
            hash,
          );
          await expectRejected(`Bearer ${token}`, 'invalid_token', [token]);
        },
      );

      it.each(['RS256', 'ES256', 'PS256', 'EdDSA'])(
        'rejects a token labelled %s (algorithm confusion with the HMAC key)',
        async (alg) => {
          const token = forgeJwt(
            { alg, typ: ACCESS_TOKEN_TYPE },
            genuine().payload,
            realKey,
          );
          await expectRejected(`Bearer ${token}`, 'invalid_token', [token]);
        },
      );

      it('rejects a genuine RS256 token signed with the attacker’s own RSA key', async () => {
        const { privateKey } = generateKeyPairSync('rsa', {
          modulusLength: 2048,
        });
        const token = jwt.sign(genuine().payload, privateKey, {
          algorithm: 'RS256',
          header: { alg: 'RS256', typ: ACCESS_TOKEN_TYPE },
        });
        await expectRejected(`Bearer ${token}`, 'invalid_token');
      });

      it('rejects an HS256 token signed with another random key', async () => {
        const token = forgeJwt(
          genuine().header,
          genuine().payload,
          randomBytes(32),
        );
        await expectRejected(`Bearer ${token}`, 'invalid_token', [token]);
        // An empty key too (a classic "verify with an empty secret" slip).
        await expectRejected(
          `Bearer ${forgeJwt(genuine().header, genuine().payload, Buffer.alloc(0))}`,
          'invalid_token',
        );
      });

      it('rejects a real token whose payload was changed (sub → the victim) under the old signature', async () => {
        const tampered = swapPayload(attacker.accessToken, {
          ...genuine().payload,
          sub: victim.userId,
        });
        await expectRejected(`Bearer ${tampered}`, 'invalid_token', [tampered]);
        // Even a change that keeps the claims' meaning (a later exp) breaks the signature.
        const extended = swapPayload(attacker.accessToken, {
          ...genuine().payload,
          exp: now() + 86_400,
        });
        await expectRejected(`Bearer ${extended}`, 'invalid_token');
      });

      it.each([
        ['jwk', { kty: 'oct', k: randomBytes(32).toString('base64url') }],
        ['jku', 'https://attacker.example/jwks.json'],
        ['kid', 'default'],
        ['x5u', 'https://attacker.example/cert.pem'],
        ['x5c', ['MIIBszCCAVmgAwIBAgIUSmF0']],
      ])(
        'rejects a token carrying a key-bearing "%s" header, even signed with the real key',
        async (name, value) => {
          const { payload } = genuine();
          const token = jwt.sign(payload, realKey, {
            algorithm: 'HS256',
            header: { alg: 'HS256', typ: ACCESS_TOKEN_TYPE, [name]: value },
          });
          expect(decodeJwt(token).header[name]).toEqual(value);
          await expectRejected(`Bearer ${token}`, 'invalid_token');
        },
      );

      it('rejects a wrong iss or aud, or a missing one, even signed with the real key', async () => {
        const { payload } = genuine();
        for (const claims of [
          { ...payload, iss: 'https://attacker.example' },
          { ...payload, aud: 'some-other-api' },
          { ...payload, aud: ['some-other-api'] },
          { ...payload, iss: undefined },
          { ...payload, aud: undefined },
        ]) {
          await expectRejected(
            `Bearer ${signWithRealKey(claims)}`,
            'invalid_token',
          );
        }
        // Control: the same route of signing with the right iss/aud works.
        await expectWorks(
          signWithRealKey({ ...payload, iss: JWT_ISSUER, aud: JWT_AUDIENCE }),
        );
      });

      it.each([
        ['missing', undefined],
        ['JWT', 'JWT'],
        ['rt+jwt', 'rt+jwt'],
        ['application/at+jwt', 'application/at+jwt'],
        ['empty', ''],
      ])(
        'rejects a typ that is %s, even signed with the real key',
        async (_name, typ) => {
          const header: JsonObject = { alg: 'HS256' };
          if (typ !== undefined) header.typ = typ;
          await expectRejected(
            `Bearer ${signWithRealKey(genuine().payload, header)}`,
            'invalid_token',
          );
        },
      );

      it('rejects an expired token, a not-yet-valid one and one without exp, even signed with the real key', async () => {
        const { payload } = genuine();
        await expectRejected(
          `Bearer ${signWithRealKey({ ...payload, iat: now() - 700, exp: now() - 10 })}`,
          'invalid_token',
        );
        await expectRejected(
          `Bearer ${signWithRealKey({ ...payload, exp: now() - 1 })}`,
          'invalid_token',
        );
        const viaLibrary = jwt.sign(
          { sid: payload.sid, cs: payload.cs },
          realKey,
          {
            algorithm: 'HS256',
            subject: attacker.userId,
            issuer: JWT_ISSUER,
            audience: JWT_AUDIENCE,
            expiresIn: -10,
            header: { alg: 'HS256', typ: ACCESS_TOKEN_TYPE },
          },
        );
        await expectRejected(`Bearer ${viaLibrary}`, 'invalid_token');
        await expectRejected(
          `Bearer ${signWithRealKey({ ...payload, nbf: now() + 3600 })}`,
          'invalid_token',
        );
        // exp is mandatory: a token without one would never expire.
        const { exp: _exp, ...noExp } = payload;
        await expectRejected(
          `Bearer ${signWithRealKey(noExp)}`,
          'invalid_token',
        );
      });

      it('rejects missing or malformed sub, sid and cs claims, even signed with the real key', async () => {
        const { payload } = genuine();
        for (const claims of [
          { ...payload, sub: undefined },
          { ...payload, sub: 12345 },
          { ...payload, sid: undefined },
          { ...payload, cs: undefined },
          { ...payload, sid: randomBytes(8).toString('base64url') },
          { ...payload, cs: randomBytes(32).toString('base64url') },
          { ...payload, sid: `${payload.sid as string}==` },
          { ...payload, cs: 42 },
        ]) {
          await expectRejected(
            `Bearer ${signWithRealKey(claims)}`,
            'invalid_token',
          );
        }
      });

      it('a token naming the victim as sub with the attacker’s own sid/cs cannot read the victim’s data', async () => {
        const { payload } = genuine();
        const token = signWithRealKey({ ...payload, sub: victim.userId });
        await expectRejected(`Bearer ${token}`, 'session_locked');
        // The victim’s sid with the attacker’s client share does not open the victim’s session either.
        const victimClaims = decodeJwt(victim.accessToken).payload;
        await expectRejected(
          `Bearer ${signWithRealKey({ ...victimClaims, cs: payload.cs })}`,
          'session_locked',
        );
        await expectRejected(
          `Bearer ${signWithRealKey({ ...payload, sid: victimClaims.sid, sub: victim.userId })}`,
          'session_locked',
        );
        // Neither session suffered from the attempts.
        expect(
          bodyOf<ProfileDto>(await expectWorks(victim.accessToken)).fullName,
        ).toBe(VICTIM_PROFILE.fullName);
        expect(
          bodyOf<ProfileDto>(await expectWorks(attacker.accessToken)).fullName,
        ).toBeNull();
      });
    });

    describe('malformed bearer credentials', () => {
      it.each([
        ['garbage', 'Bearer garbage'],
        ['three dots', 'Bearer ...'],
        ['a.b.c', 'Bearer a.b.c'],
        [
          'non-JSON header',
          `Bearer ${Buffer.from('not json').toString('base64url')}.e30.sig`,
        ],
        ['bad base64', 'Bearer eyJ!!!.eyJ***.@@@'],
        ['four segments', 'Bearer aaa.bbb.ccc.ddd'],
        [
          'JWE-shaped',
          'Bearer eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aaaa.bbbb.cccc',
        ],
        ['empty bearer', 'Bearer '],
        ['scheme only', 'Bearer'],
        ['empty header', ''],
        [
          'Basic scheme',
          `Basic ${Buffer.from('user:pass').toString('base64')}`,
        ],
      ])('rejects %s with 401 invalid_token', async (_name, authorization) => {
        await expectRejected(authorization, 'invalid_token');
      });

      it('rejects a real token under another scheme', async () => {
        await expectRejected(`Token ${attacker.accessToken}`, 'invalid_token', [
          attacker.accessToken,
        ]);
        await expectRejected(`JWT ${attacker.accessToken}`, 'invalid_token', [
          attacker.accessToken,
        ]);
        await expectRejected(attacker.accessToken, 'invalid_token', [
          attacker.accessToken,
        ]);
      });

      it('rejects "Bearer" followed by two tokens (no guessing which one is meant)', async () => {
        await expectRejected(
          `Bearer ${attacker.accessToken} ${attacker.accessToken}`,
          'invalid_token',
          [attacker.accessToken],
        );
        await expectRejected(
          `Bearer ${attacker.accessToken} ${victim.accessToken}`,
          'invalid_token',
        );
        await expectRejected(
          `Bearer ${attacker.accessToken} junk`,
          'invalid_token',
        );
        await expectRejected(
          `Bearer ${attacker.accessToken},${attacker.accessToken}`,
          'invalid_token',
        );
        await expectRejected(
          `Bearer ${attacker.accessToken}, Basic dXNlcjpwYXNz`,
          'invalid_token',
        );
      });

      it('control: the scheme is case-insensitive and may be followed by several spaces (RFC 6750 1*SP)', async () => {
        for (const authorization of [
          `bearer ${attacker.accessToken}`,
          `BEARER ${attacker.accessToken}`,
          `Bearer   ${attacker.accessToken}`,
        ]) {
          expect(
            (await http().get('/v1/me').set('Authorization', authorization))
              .status,
          ).toBe(200);
        }
      });

      it('rejects a refresh token presented as a bearer access token', async () => {
        await expectRejected(
          `Bearer ${attacker.refreshToken}`,
          'invalid_token',
          [attacker.refreshToken],
        );
        // The refresh token still refreshes afterwards: presenting it as a bearer did not spend it.
        const refreshed = await http()
          .post('/v1/auth/refresh')
          .send({ refreshToken: attacker.refreshToken });
        expect(refreshed.status).toBe(200);
        const { accessToken, refreshToken } = bodyOf<TokenPairDto>(refreshed);
        attacker = { ...attacker, accessToken, refreshToken };
      });

      it('rejects an access token presented to /v1/auth/refresh, and the session is not harmed', async () => {
        const response = await http()
          .post('/v1/auth/refresh')
          .send({ refreshToken: attacker.accessToken });
        expectProblem(response, 401, 'invalid_token', [
          attacker.accessToken,
          ...victimSecrets(),
        ]);
        await expectWorks(attacker.accessToken);
      });

      it('ignores tokens in the query string, a cookie or other headers', async () => {
        const token = attacker.accessToken;
        for (const path of [
          `/v1/me?access_token=${token}`,
          `/v1/me/profile?access_token=${token}`,
          `/v1/me?token=${token}`,
        ]) {
          expectProblem(await http().get(path), 401, 'invalid_token', [
            token,
            ...victimSecrets(),
          ]);
        }
        for (const cookie of [
          `access_token=${token}`,
          `Authorization=Bearer ${token}`,
          `jwt=${token}`,
          `token=${token}`,
        ]) {
          expectProblem(
            await http().get('/v1/me').set('Cookie', cookie),
            401,
            'invalid_token',
            [token],
          );
        }
        for (const header of [
          'X-Access-Token',
          'X-Auth-Token',
          'X-Authorization',
          'Proxy-Authorization',
        ]) {
          expectProblem(
            await http().get('/v1/me').set(header, `Bearer ${token}`),
            401,
            'invalid_token',
            [token],
          );
        }
        // A token in a body does not authenticate either.
        const inBody = await http()
          .post('/v1/auth/logout')
          .send({ access_token: token });
        expectProblem(inBody, 401, 'invalid_token', [token]);
        await expectWorks(token);
      });
    });

    describe('tokens of ended sessions', () => {
      it('after logout: the access token is session_locked, the refresh token invalid_token', async () => {
        const session = await login(server(), attacker);
        expect(
          (
            await http()
              .post('/v1/auth/logout')
              .set(...bearer(session.accessToken))
          ).status,
        ).toBe(204);
        await expectRejected(
          `Bearer ${session.accessToken}`,
          'session_locked',
          [session.accessToken],
        );
        const refresh = await http()
          .post('/v1/auth/refresh')
          .send({ refreshToken: session.refreshToken });
        expectProblem(refresh, 401, 'invalid_token', [session.refreshToken]);
        // Logging out twice with the same token is refused too.
        expectProblem(
          await http()
            .post('/v1/auth/logout')
            .set(...bearer(session.accessToken)),
          401,
          'session_locked',
        );
        // A fresh signature over the dead session's claims opens nothing.
        await expectRejected(
          `Bearer ${signWithRealKey(decodeJwt(session.accessToken).payload)}`,
          'session_locked',
        );
      });

      it('after account deletion: every session’s tokens are dead, even re-signed ones', async () => {
        const doomed = await registerUser(server(), {
          profile: { fullName: 'Doomed Account Holder' },
        });
        const a = await login(server(), doomed);
        const b = await login(server(), doomed);
        expect(
          (
            await http()
              .delete('/v1/me')
              .set(...bearer(a.accessToken))
              .send({ password: doomed.password })
          ).status,
        ).toBe(204);
        for (const session of [a, b]) {
          await expectRejected(
            `Bearer ${session.accessToken}`,
            'session_locked',
            ['Doomed Account Holder', doomed.email],
          );
          await expectRejected(
            `Bearer ${signWithRealKey(decodeJwt(session.accessToken).payload)}`,
            'session_locked',
          );
          expectProblem(
            await http()
              .post('/v1/auth/refresh')
              .send({ refreshToken: session.refreshToken }),
            401,
            'invalid_token',
          );
        }
        expectProblem(
          await http()
            .get('/v1/auth/sessions')
            .set(...bearer(b.accessToken)),
          401,
          'session_locked',
        );
        expectProblem(
          await http()
            .delete('/v1/me')
            .set(...bearer(b.accessToken))
            .send({ password: doomed.password }),
          401,
          'session_locked',
        );
      });

      it('after recovery: every session of the account ends, access and refresh tokens alike', async () => {
        const user = await registerUser(server());
        const a = await login(server(), user);
        const b = await login(server(), user);
        const recovered = await http().post('/v1/auth/recover').send({
          email: user.email,
          recoveryCode: user.recoveryCode,
          newPassword: 'recovered passphrase attack 88',
        });
        expect(recovered.status).toBe(200);
        for (const session of [a, b]) {
          await expectRejected(
            `Bearer ${session.accessToken}`,
            'session_locked',
          );
          expectProblem(
            await http()
              .post('/v1/auth/refresh')
              .send({ refreshToken: session.refreshToken }),
            401,
            'invalid_token',
          );
        }
        const again = await login(server(), {
          ...user,
          password: 'recovered passphrase attack 88',
        });
        const sessions = await http()
          .get('/v1/auth/sessions')
          .set(...bearer(again.accessToken));
        expect(bodyOf<SessionPageDto>(sessions).items).toHaveLength(1);
      });

      it('after a password change: the other sessions’ refresh tokens are dead too', async () => {
        const user = await registerUser(server());
        const a = await login(server(), user);
        const b = await login(server(), user);
        const change = await http()
          .post('/v1/auth/password')
          .set(...bearer(a.accessToken))
          .send({
            currentPassword: user.password,
            newPassword: 'changed passphrase attack 99',
          });
        expect(change.status).toBe(204);
        expectProblem(
          await http()
            .post('/v1/auth/refresh')
            .send({ refreshToken: b.refreshToken }),
          401,
          'invalid_token',
        );
        expect(
          (
            await http()
              .post('/v1/auth/refresh')
              .send({ refreshToken: a.refreshToken })
          ).status,
        ).toBe(200);
      });
    });

    describe('refresh tokens', () => {
      const refresh = (refreshToken: string) =>
        http().post('/v1/auth/refresh').send({ refreshToken });

      /** 401 `invalid_token`, and the answer carries none of `secrets` (the token sent is one). */
      async function expectRefused(
        refreshToken: string,
        secrets: string[] = [],
      ) {
        expectProblem(await refresh(refreshToken), 401, 'invalid_token', [
          refreshToken,
          ...secrets,
        ]);
      }

      /** Refreshes `times` times in a row from `session`: the tokens spent (oldest first) and the last pair. */
      async function refreshRepeatedly(
        session: TokenPairDto | LoggedInUser,
        times: number,
      ): Promise<{
        spent: string[];
        last: Pick<TokenPairDto, 'accessToken' | 'refreshToken'>;
      }> {
        const spent: string[] = [];
        let last = {
          accessToken: session.accessToken,
          refreshToken: session.refreshToken,
        };
        for (let i = 0; i < times; i++) {
          const refreshed = await refresh(last.refreshToken);
          expect(refreshed.status).toBe(200);
          spent.push(last.refreshToken);
          last = bodyOf<TokenPairDto>(refreshed);
        }
        return { spent, last };
      }

      /** The `revoked_at` of the session an access token names. */
      async function revokedAt(accessToken: string): Promise<Date | null> {
        const sidHash = createHash('sha256')
          .update(
            Buffer.from(
              decodeJwt(accessToken).payload.sid as string,
              'base64url',
            ),
          )
          .digest();
        const [row] = await t.dataSource.query<{ revoked_at: Date | null }[]>(
          'SELECT revoked_at FROM sessions WHERE sid_hash = $1',
          [sidHash],
        );
        return row.revoked_at;
      }

      function reuseEvents(userId: string) {
        return t.dataSource.query<
          {
            outcome: string;
            request_id: string | null;
            client_address: string | null;
          }[]
        >(
          `SELECT outcome, request_id, host(client_address) AS client_address FROM audit_events
           WHERE event = 'auth.refresh_reuse' AND user_id = $1 ORDER BY id`,
          [userId],
        );
      }

      it('concurrent refreshes with one token: exactly one wins, and the session ends revoked (reuse detection, audited)', async () => {
        const session = await registerAndLogin(server());
        const attempts = await Promise.all(
          Array.from({ length: 6 }, () => refresh(session.refreshToken)),
        );
        const winners = attempts.filter((response) => response.status === 200);
        const losers = attempts.filter((response) => response.status !== 200);
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(5);
        for (const loser of losers)
          expectProblem(loser, 401, 'invalid_token', [session.refreshToken]);
        // Any second use revokes the session (SessionService.refresh): the winner's new pair is dead too.
        const winner = bodyOf<TokenPairDto>(winners[0]);
        await expectRejected(`Bearer ${winner.accessToken}`, 'session_locked');
        await expectRejected(`Bearer ${session.accessToken}`, 'session_locked');
        await expectRefused(winner.refreshToken);
        expect(await revokedAt(session.accessToken)).toBeInstanceOf(Date);
        expect((await reuseEvents(session.userId)).length).toBeGreaterThan(0);
      });

      it('rejects forged refresh tokens of the right shape', async () => {
        const shaped = (first: number, rest: Buffer) =>
          Buffer.concat([Buffer.from([first]), rest]).toString('base64url');
        for (const forged of [
          shaped(1, randomBytes(64)),
          shaped(2, randomBytes(64)),
          shaped(0, randomBytes(64)),
          randomBytes(65).toString('base64url'),
          'A'.repeat(87),
          `${shaped(1, randomBytes(64)).slice(0, 86)}=`,
          `${shaped(1, randomBytes(64))}A`,
        ]) {
          await expectRefused(forged);
        }
        await expectWorks(victim.accessToken);
      });

      it('a forged refresh token naming a live session (sid and cs read from its access token) is a plain 401: the session lives on, nothing is audited', async () => {
        // The sid and the client share are in every access token, even an expired one: only the
        // 256-bit secret makes a refresh token, and a made-up one was never issued (SessionService.refresh).
        const session = await registerAndLogin(server());
        const claims = decodeJwt(session.accessToken).payload;
        for (let i = 0; i < 3; i++) {
          const forged = Buffer.concat([
            Buffer.from([1]),
            Buffer.from(claims.sid as string, 'base64url'),
            Buffer.from(claims.cs as string, 'base64url'),
            randomBytes(32),
          ]).toString('base64url');
          await expectRefused(forged, [
            session.refreshToken,
            session.accessToken,
          ]);
        }
        expect(await revokedAt(session.accessToken)).toBeNull();
        await expectWorks(session.accessToken);
        expect(await reuseEvents(session.userId)).toEqual([]);
        const { last } = await refreshRepeatedly(session, 1);
        await expectWorks(last.accessToken);
      });

      it('a spent refresh token (any earlier one, not only the last) presented again revokes the session, audited as auth.refresh_reuse', async () => {
        const session = await registerAndLogin(server());
        const { last } = await refreshRepeatedly(session, 3);
        const requestId = `refresh-reuse-${randomUUID()}`;
        expectProblem(
          await refresh(session.refreshToken).set('X-Request-Id', requestId),
          401,
          'invalid_token',
          [session.refreshToken, last.refreshToken],
        );
        expect(await revokedAt(session.accessToken)).toBeInstanceOf(Date);
        await expectRejected(`Bearer ${last.accessToken}`, 'session_locked');
        await expectRefused(last.refreshToken);
        const events = await reuseEvents(session.userId);
        expect(events).toHaveLength(1);
        expect(events[0].outcome).toBe('failure');
        expect(events[0].request_id).toBe(requestId);
        expect(events[0].client_address).toMatch(
          /^(::ffff:)?127\.0\.0\.1$|^::1$/,
        );
      });

      it(`a session remembers its last ${SPENT_REFRESH_TOKENS_KEPT} spent tokens: an older one is refused like a forged one, the next older revokes`, async () => {
        const session = await registerAndLogin(server());
        const {
          spent: [forgotten, oldestKept],
        } = await refreshRepeatedly(session, SPENT_REFRESH_TOKENS_KEPT + 1);
        await expectRefused(forgotten);
        expect(await revokedAt(session.accessToken)).toBeNull();
        expect(await reuseEvents(session.userId)).toEqual([]);
        await expectRefused(oldestKept);
        expect(await revokedAt(session.accessToken)).toBeInstanceOf(Date);
        expect(await reuseEvents(session.userId)).toHaveLength(1);
      });

      it('a refresh token with a wrong client share cannot refresh (and cannot unlock the keys); the session lives on', async () => {
        const session = await login(server(), attacker);
        const bytes = Buffer.from(session.refreshToken, 'base64url');
        bytes[1 + 16] ^= 0x01; // first byte of the client share
        const tampered = bytes.toString('base64url');
        await expectRefused(tampered);
        expect(await revokedAt(session.accessToken)).toBeNull();
        await expectWorks(session.accessToken);
      });

      it('a refresh token of a logged-out session is refused, and stays refused', async () => {
        const session = await login(server(), attacker);
        expect(
          (
            await http()
              .post('/v1/auth/logout')
              .set(...bearer(session.accessToken))
          ).status,
        ).toBe(204);
        for (let i = 0; i < 2; i++) await expectRefused(session.refreshToken);
      });
    });

    describe('another user’s sessions', () => {
      it('DELETE of a random uuid or of the victim’s session id in another spelling answers 404; the victim is untouched', async () => {
        const victimSessionId = bodyOf<SessionPageDto>(
          await http()
            .get('/v1/auth/sessions')
            .set(...bearer(victim.accessToken)),
        ).items[0].id;
        for (const id of [
          randomUUID(),
          victimSessionId.toUpperCase(),
          `{${victimSessionId}}`,
          `${victimSessionId}%00`,
        ]) {
          const response = await http()
            .delete(`/v1/auth/sessions/${id}`)
            .set(...bearer(attacker.accessToken));
          expectProblem(response, 404, 'not_found', victimSecrets());
        }
        const stillThere = await http()
          .get('/v1/auth/sessions')
          .set(...bearer(victim.accessToken));
        expect(
          bodyOf<SessionPageDto>(stillThere).items.map((s) => s.id),
        ).toContain(victimSessionId);
        await expectWorks(victim.accessToken);
      });

      it('the session list shows only the caller’s own sessions', async () => {
        const mine = await http()
          .get('/v1/auth/sessions')
          .set(...bearer(attacker.accessToken));
        const theirs = await http()
          .get('/v1/auth/sessions')
          .set(...bearer(victim.accessToken));
        const theirIds = new Set(
          bodyOf<SessionPageDto>(theirs).items.map((s) => s.id),
        );
        expect(bodyOf<SessionPageDto>(mine).items.length).toBeGreaterThan(0);
        for (const s of bodyOf<SessionPageDto>(mine).items)
          expect(theirIds.has(s.id)).toBe(false);
        expect(JSON.stringify(mine.body)).not.toContain(victim.userId);
      });
    });

    it('the victim’s data never left: their profile is intact and still only theirs', async () => {
      const response = await expectWorks(victim.accessToken);
      expect(response.body).toEqual({
        fullName: VICTIM_PROFILE.fullName,
        dateOfBirth: null,
        phone: VICTIM_PROFILE.phone,
        address: null,
        nationalId: VICTIM_PROFILE.nationalId,
      });
      expect(
        bodyOf<MeDto>(
          await http()
            .get('/v1/me')
            .set(...bearer(victim.accessToken)),
        ).userId,
      ).toBe(victim.userId);
    });
  },
);
