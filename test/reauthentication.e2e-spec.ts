import { randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import request, { Response } from 'supertest';
import { AccountKeysService } from '../src/auth/account-keys.service';
import type { RegisteredDto, TokenPairDto } from '../src/auth/dto/auth.dto';
import { STRONG_PASSWORD } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

// Issue 15: every password check — login, password change, account deletion, key rotation and
// recovery (its code) — counts toward the account's failed-login limit
// (docs/security.md#rate-limits). A stolen access token must not let its holder guess the password
// at the per-address rate. Production's per-address budget (100 per minute) is kept, and every
// guess comes from one address, so each 429 here is the account's.

const WRONG_PASSWORD = 'not the right passphrase';
const WRONG_RECOVERY_CODE = 'AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA';
const NEW_PASSWORD = 'Another vault passphrase 8812';
const LIMIT = 10;
const WINDOW_SECONDS = 15 * 60;

let addressCounter = 0;
/** A documentation address (RFC 5737) no other request of this file has used. */
const freshAddress = (): string =>
  `203.0.${Math.floor(addressCounter / 250) + 113}.${(addressCounter++ % 250) + 1}`;

interface Account {
  email: string;
  recoveryCode: string;
  accessToken: string;
}

/** Each route's password check, with the secret to send (wrong or right) and its success status. */
interface Route {
  name: string;
  success: number;
  send(
    t: TestApp,
    account: Account,
    secret: 'wrong' | 'right',
    address: string,
  ): Promise<Response>;
}

/** A signed-in route that takes the password in its body (`body` places it). */
function passwordRoute(
  method: 'post' | 'delete',
  path: string,
  success: number,
  body: (password: string) => object,
): Route {
  return {
    name: `${method.toUpperCase()} ${path}`,
    success,
    send: (t, account, secret, address) =>
      request(t.app.getHttpServer())
        [method](path)
        .set('X-Forwarded-For', address)
        .set('Authorization', `Bearer ${account.accessToken}`)
        .send(body(secret === 'right' ? STRONG_PASSWORD : WRONG_PASSWORD)),
  };
}

const ROUTES: Route[] = [
  passwordRoute('post', '/v1/auth/password', 204, (currentPassword) => ({
    currentPassword,
    newPassword: NEW_PASSWORD,
  })),
  passwordRoute('delete', '/v1/me', 204, (password) => ({ password })),
  passwordRoute('post', '/v1/me/keys/rotate', 200, (password) => ({
    password,
  })),
  {
    name: 'POST /v1/auth/recover',
    success: 200,
    send: (t, account, secret, address) =>
      request(t.app.getHttpServer())
        .post('/v1/auth/recover')
        .set('X-Forwarded-For', address)
        .send({
          email: account.email,
          recoveryCode:
            secret === 'right' ? account.recoveryCode : WRONG_RECOVERY_CODE,
          newPassword: NEW_PASSWORD,
        }),
  },
];

function expectLocked(response: Response): void {
  expectProblem(response, 429, 'too_many_requests');
  expect(response.headers['retry-after']).toMatch(/^\d+$/);
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
}

describe('re-authentication counts toward the per-account limit (defaults: 10 failures per 15 minutes; 100 requests per address per minute)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      env: { TRUST_PROXY: '1', AUTH_RATE_LIMIT: '100' },
    });
  });
  afterAll(() => t?.close());

  const newAccount = async (): Promise<Account> => {
    const email = `reauth.${randomUUID()}@example.org`;
    const registered = await request(t.app.getHttpServer())
      .post('/v1/auth/register')
      .set('X-Forwarded-For', freshAddress())
      .send({ email, password: STRONG_PASSWORD });
    expect(registered.status).toBe(201);
    const { recoveryCode } = bodyOf<RegisteredDto>(registered);
    const { accessToken } = bodyOf<TokenPairDto>(
      await login(email, STRONG_PASSWORD, freshAddress()),
    );
    return { email, recoveryCode, accessToken };
  };
  const login = (email: string, password: string, address: string) =>
    request(t.app.getHttpServer())
      .post('/v1/auth/login')
      .set('X-Forwarded-For', address)
      .send({ email, password });
  const me = (account: Account) =>
    request(t.app.getHttpServer())
      .get('/v1/me')
      .set('X-Forwarded-For', freshAddress())
      .set('Authorization', `Bearer ${account.accessToken}`);

  describe.each(ROUTES)('$name', (route) => {
    it('guesses through it reach 429 with Retry-After (from one address, within its budget), even with the right secret', async () => {
      const account = await newAccount();
      const address = freshAddress();
      for (let i = 0; i < LIMIT; i++)
        expect((await route.send(t, account, 'wrong', address)).status).toBe(
          401,
        );
      expectLocked(await route.send(t, account, 'wrong', address));
      expectLocked(await route.send(t, account, 'right', address));
      // The same counter as login's: the account is locked there too.
      expectLocked(await login(account.email, STRONG_PASSWORD, freshAddress()));
      // Nothing was changed: the session still reads the account, the password is unchanged.
      expect((await me(account)).status).toBe(200);
    });

    it('is refused with 429 once logins have locked the account, even with the right secret, and costs no argon2id', async () => {
      const account = await newAccount();
      for (let i = 0; i < LIMIT; i++)
        expect(
          (await login(account.email, WRONG_PASSWORD, freshAddress())).status,
        ).toBe(401);
      const keys = t.app.get(AccountKeysService);
      const kdf = jest.spyOn(keys, 'verifyPassword');
      const dummyKdf = jest.spyOn(keys, 'spendDummyVerification');
      try {
        expectLocked(await route.send(t, account, 'right', freshAddress()));
        expect(kdf).not.toHaveBeenCalled();
        expect(dummyKdf).not.toHaveBeenCalled();
      } finally {
        jest.restoreAllMocks();
      }
      expect((await me(account)).status).toBe(200);
    });

    it('a right secret does not count: failures before it leave the account open', async () => {
      const account = await newAccount();
      const address = freshAddress();
      for (let i = 0; i < LIMIT - 1; i++)
        expect((await route.send(t, account, 'wrong', address)).status).toBe(
          401,
        );
      expect((await route.send(t, account, 'right', address)).status).toBe(
        route.success,
      );
    });
  });

  it('the issue’s case: 25 wrong current passwords from one address with a stolen token answer 429 from the 11th on, and the owner’s login is locked too', async () => {
    const account = await newAccount();
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++)
      statuses.push(
        (await ROUTES[0].send(t, account, 'wrong', address)).status,
      );
    expect(statuses).toEqual([
      ...Array<number>(LIMIT).fill(401),
      ...Array<number>(25 - LIMIT).fill(429),
    ]);
    expect(
      (await login(account.email, STRONG_PASSWORD, freshAddress())).status,
    ).toBe(429);
  });

  it('audits each refused guess under the route’s own event as a failure, and a locked one too', async () => {
    const account = await newAccount();
    const address = freshAddress();
    for (let i = 0; i < LIMIT + 1; i++)
      await ROUTES[1].send(t, account, 'wrong', address);
    const events = await t.dataSource.query<{ outcome: string; n: string }[]>(
      `SELECT outcome, count(*) AS n FROM audit_events WHERE event = 'account.delete' AND host(client_address) = $1 GROUP BY outcome`,
      [address],
    );
    expect(events).toEqual([{ outcome: 'failure', n: String(LIMIT + 1) }]);
  });
});
