import { randomBytes, randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { expect } from '@jest/globals';
import request, { Response } from 'supertest';
import { AccountKeysService } from '../src/auth/account-keys.service';
import type { TokenPairDto } from '../src/auth/dto/auth.dto';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { UsersService } from '../src/users/users.service';
import { redisSkipReason } from '@vault-pii/nest-encryption/testing';
import { STRONG_PASSWORD } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

// Rate limits (docs/security.md#rate-limits): per account (failed logins) and per client address
// (all auth routes). Apps trust one proxy hop (TRUST_PROXY=1), so each test can speak from its own
// address with X-Forwarded-For instead of sharing the budget of 127.0.0.1.

const WRONG_PASSWORD = 'not the right passphrase';
let addressCounter = 0;
/** A documentation address (RFC 5737) no other test has used. */
const freshAddress = (): string =>
  `198.51.${Math.floor(addressCounter / 250) + 100}.${(addressCounter++ % 250) + 1}`;
const freshEmail = (): string => `rate.${randomUUID()}@example.org`;

function expectTooManyRequests(
  response: Response,
  maxRetryAfterSeconds: number,
): number {
  expect({
    status: response.status,
    body: bodyOf<ProblemDetails>(response),
  }).toMatchObject({
    status: 429,
    body: {
      type: '/problems/too-many-requests',
      status: 429,
      code: 'too_many_requests',
      title: 'Too many requests',
    },
  });
  expect(response.headers['content-type']).toMatch(
    /^application\/problem\+json/,
  );
  expect(response.headers['retry-after']).toMatch(/^\d+$/);
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfterSeconds);
  return retryAfter;
}

/** No email, and no client address, anywhere in the app's log lines. */
function expectNoPiiInLogs(
  t: TestApp,
  emails: string[],
  addresses: string[] = [],
): void {
  const logs = JSON.stringify(t.logs).toLowerCase();
  for (const value of [
    ...emails,
    ...emails.map((e) => e.split('@')[0]),
    ...addresses,
  ]) {
    expect({ inLogs: logs.includes(value.toLowerCase()), value }).toEqual({
      inLogs: false,
      value,
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('per-account limit on failed logins (defaults: 10 per 15 minutes, memory store)', () => {
  let t: TestApp;
  const emails: string[] = [];
  /** Each request from another address: the per-account limit holds against a distributed guesser. */
  const login = (email: string, password: string) =>
    request(t.app.getHttpServer())
      .post('/v1/auth/login')
      .set('X-Forwarded-For', freshAddress())
      .send({ email, password });
  const register = async (): Promise<string> => {
    const email = freshEmail();
    emails.push(email);
    const response = await request(t.app.getHttpServer())
      .post('/v1/auth/register')
      .send({ email, password: STRONG_PASSWORD });
    expect(response.status).toBe(201);
    return email;
  };

  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: '1' } });
  });
  afterAll(() => t?.close());

  it('answers the 11th attempt after 10 failures with 429 and Retry-After, even with the right password', async () => {
    const email = await register();
    for (let i = 0; i < 10; i++)
      expect((await login(email, WRONG_PASSWORD)).status).toBe(401);
    expectTooManyRequests(await login(email, STRONG_PASSWORD), 15 * 60);
    expectTooManyRequests(
      await login(email.toUpperCase(), WRONG_PASSWORD),
      15 * 60,
    );
  });

  it('leaves other accounts alone', async () => {
    const locked = await register();
    const other = await register();
    for (let i = 0; i < 10; i++) await login(locked, WRONG_PASSWORD);
    expect((await login(locked, STRONG_PASSWORD)).status).toBe(429);
    expect((await login(other, STRONG_PASSWORD)).status).toBe(200);
  });

  it('counts unknown emails alike: same 401s, then the same 429 (no enumeration by lockout)', async () => {
    const known = await register();
    const unknown = freshEmail();
    emails.push(unknown);
    for (let i = 0; i < 10; i++) {
      expect((await login(known, WRONG_PASSWORD)).status).toBe(401);
      expect((await login(unknown, WRONG_PASSWORD)).status).toBe(401);
    }
    const lockedKnown = await login(known, WRONG_PASSWORD);
    const lockedUnknown = await login(unknown, WRONG_PASSWORD);
    expectTooManyRequests(lockedKnown, 15 * 60);
    expectTooManyRequests(lockedUnknown, 15 * 60);
    const comparable = (r: Response) => ({
      ...bodyOf<ProblemDetails>(r),
      requestId: undefined,
      retryAfter: Math.round(Number(r.headers['retry-after']) / 10),
    });
    expect(comparable(lockedUnknown)).toEqual(comparable(lockedKnown));
  });

  it('does not count successful logins', async () => {
    const email = await register();
    for (let i = 0; i < 9; i++)
      expect((await login(email, WRONG_PASSWORD)).status).toBe(401);
    for (let i = 0; i < 3; i++)
      expect((await login(email, STRONG_PASSWORD)).status).toBe(200);
    expect((await login(email, WRONG_PASSWORD)).status).toBe(401);
    expect((await login(email, STRONG_PASSWORD)).status).toBe(429);
  });

  it('refuses a locked account before the user lookup and the KDF, and audits it without a user id', async () => {
    const email = await register();
    for (let i = 0; i < 10; i++) await login(email, WRONG_PASSWORD);
    const kdf = jest.spyOn(t.app.get(AccountKeysService), 'verifyPassword');
    const dummyKdf = jest.spyOn(
      t.app.get(AccountKeysService),
      'spendDummyVerification',
    );
    const lookup = jest.spyOn(t.app.get(UsersService), 'findByEmail');
    try {
      expect((await login(email, STRONG_PASSWORD)).status).toBe(429);
      expect(kdf).not.toHaveBeenCalled();
      expect(dummyKdf).not.toHaveBeenCalled();
      expect(lookup).not.toHaveBeenCalled();
    } finally {
      jest.restoreAllMocks();
    }
    const [locked] = await t.dataSource.query<
      { user_id: string | null; outcome: string; address: string }[]
    >(
      `SELECT user_id, outcome, host(client_address) AS address FROM audit_events WHERE event = 'auth.login_locked' ORDER BY id DESC LIMIT 1`,
    );
    expect(locked).toEqual({
      user_id: null,
      outcome: 'failure',
      address: expect.stringMatching(/^198\.51\./),
    });
  });

  it('writes no email in any log line', () => {
    expectNoPiiInLogs(t, emails);
  });
});

describe('per-address limit and window resets (AUTH_RATE_LIMIT=3 per 2s, LOGIN_FAILURE_LIMIT=2 per 2s, memory store)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        TRUST_PROXY: '1',
        AUTH_RATE_LIMIT: '3',
        AUTH_RATE_LIMIT_WINDOW: '2s',
        LOGIN_FAILURE_LIMIT: '2',
        LOGIN_FAILURE_WINDOW: '2s',
      },
    });
  });
  afterAll(() => t?.close());

  it('shares one budget across the auth routes and answers the (limit+1)th request with 429 and Retry-After', async () => {
    const address = freshAddress();
    expect(
      (
        await http()
          .post('/v1/auth/refresh')
          .set('X-Forwarded-For', address)
          .send({ refreshToken: 'x'.repeat(40) })
      ).status,
    ).toBe(401);
    expect(
      (
        await http()
          .post('/v1/auth/login')
          .set('X-Forwarded-For', address)
          .send({ email: 'bad' })
      ).status,
    ).toBe(400);
    expect(
      (
        await http()
          .post('/v1/auth/register')
          .set('X-Forwarded-For', address)
          .send({})
      ).status,
    ).toBe(400);
    expectTooManyRequests(
      await http()
        .post('/v1/auth/recover')
        .set('X-Forwarded-For', address)
        .send({}),
      2,
    );
    expectTooManyRequests(
      await http()
        .post('/v1/auth/login')
        .set('X-Forwarded-For', address)
        .send({}),
      2,
    );
  });

  it('leaves other addresses and the other routes alone', async () => {
    const address = freshAddress();
    for (let i = 0; i < 4; i++)
      await http()
        .post('/v1/auth/refresh')
        .set('X-Forwarded-For', address)
        .send({ refreshToken: 'x' });
    expect(
      (
        await http()
          .post('/v1/auth/refresh')
          .set('X-Forwarded-For', address)
          .send({ refreshToken: 'x' })
      ).status,
    ).toBe(429);
    expect(
      (
        await http()
          .post('/v1/auth/refresh')
          .set('X-Forwarded-For', freshAddress())
          .send({ refreshToken: 'x' })
      ).status,
    ).toBe(401);
    expect(
      (await http().get('/v1/auth/sessions').set('X-Forwarded-For', address))
        .status,
    ).toBe(401);
    expect(
      (await http().get('/health/live').set('X-Forwarded-For', address)).status,
    ).toBe(200);
  });

  it('opens again once Retry-After has passed', async () => {
    const address = freshAddress();
    for (let i = 0; i < 3; i++)
      await http()
        .post('/v1/auth/refresh')
        .set('X-Forwarded-For', address)
        .send({ refreshToken: 'x' });
    const retryAfter = expectTooManyRequests(
      await http()
        .post('/v1/auth/refresh')
        .set('X-Forwarded-For', address)
        .send({ refreshToken: 'x' }),
      2,
    );
    await sleep(retryAfter * 1000 + 100);
    expect(
      (
        await http()
          .post('/v1/auth/refresh')
          .set('X-Forwarded-For', address)
          .send({ refreshToken: 'x' })
      ).status,
    ).toBe(401);
  });

  it('unlocks an account once its failure window has passed', async () => {
    const email = freshEmail();
    const login = (password: string) =>
      http()
        .post('/v1/auth/login')
        .set('X-Forwarded-For', freshAddress())
        .send({ email, password });
    expect(
      (
        await http()
          .post('/v1/auth/register')
          .set('X-Forwarded-For', freshAddress())
          .send({ email, password: STRONG_PASSWORD })
      ).status,
    ).toBe(201);
    expect((await login(WRONG_PASSWORD)).status).toBe(401);
    expect((await login(WRONG_PASSWORD)).status).toBe(401);
    const retryAfter = expectTooManyRequests(await login(STRONG_PASSWORD), 2);
    await sleep(retryAfter * 1000 + 100);
    expect((await login(STRONG_PASSWORD)).status).toBe(200);
  });

  it('takes the client address from X-Forwarded-For with TRUST_PROXY=1 (audit log too)', async () => {
    const address = freshAddress();
    await http()
      .post('/v1/auth/login')
      .set('X-Forwarded-For', `203.0.113.77, ${address}`)
      .send({ email: freshEmail(), password: WRONG_PASSWORD });
    const [event] = await t.dataSource.query<{ address: string }[]>(
      `SELECT host(client_address) AS address FROM audit_events WHERE event = 'auth.login' ORDER BY id DESC LIMIT 1`,
    );
    expect(event.address).toBe(address);
  });
});

describe('without TRUST_PROXY', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT: '2' } });
  });
  afterAll(() => t?.close());

  it('ignores X-Forwarded-For: a client cannot dodge the per-address limit by inventing addresses', async () => {
    const refresh = () =>
      request(t.app.getHttpServer())
        .post('/v1/auth/refresh')
        .set('X-Forwarded-For', freshAddress())
        .send({ refreshToken: 'x' });
    expect((await refresh()).status).toBe(401);
    expect((await refresh()).status).toBe(401);
    expectTooManyRequests(await refresh(), 60);
  });
});

describe('per-address limit on IPv6 clients: one /64 is one client (AUTH_RATE_LIMIT=3)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { TRUST_PROXY: '1', AUTH_RATE_LIMIT: '3' },
    });
  });
  afterAll(() => t?.close());

  const refresh = (address: string) =>
    request(t.app.getHttpServer())
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', address)
      .send({ refreshToken: 'x' });

  it('two addresses in one /64 share one budget, whatever their spelling', async () => {
    expect((await refresh('2001:db8:a:1::1')).status).toBe(401);
    expect((await refresh('2001:DB8:A:1:FFFF:0:0:9')).status).toBe(401);
    expect((await refresh('2001:0db8:000a:0001:8000::42')).status).toBe(401);
    expectTooManyRequests(await refresh('2001:db8:a:1:1234::5'), 60);
  });

  it('addresses in different /64s do not', async () => {
    for (let i = 0; i < 3; i++)
      expect((await refresh('2001:db8:b:1::1')).status).toBe(401);
    expectTooManyRequests(await refresh('2001:db8:b:1::2'), 60);
    expect((await refresh('2001:db8:b:2::1')).status).toBe(401);
    expect((await refresh('2001:db8:c:1::1')).status).toBe(401);
  });

  it('an IPv4-mapped IPv6 address counts as the IPv4 address', async () => {
    const address = freshAddress();
    expect((await refresh(address)).status).toBe(401);
    expect((await refresh(`::ffff:${address}`)).status).toBe(401);
    expect((await refresh(address)).status).toBe(401);
    expectTooManyRequests(await refresh(`::FFFF:${address}`), 60);
    expect((await refresh(freshAddress())).status).toBe(401);
  });
});

describe('per-email limit on registration (REGISTER_EMAIL_LIMIT=3, memory store)', () => {
  let t: TestApp;
  const emails: string[] = [];
  beforeAll(async () => {
    t = await createTestApp({
      env: { TRUST_PROXY: '1', REGISTER_EMAIL_LIMIT: '3' },
    });
  });
  afterAll(() => t?.close());

  /** Each attempt from another address: the per-email limit holds against a distributed prober. */
  const register = (email: string, password = STRONG_PASSWORD) =>
    request(t.app.getHttpServer())
      .post('/v1/auth/register')
      .set('X-Forwarded-For', freshAddress())
      .send({ email, password });

  it('counts every attempt for one email (201, 409 and a weak password’s 400 alike); the next is 429 naming REGISTER_EMAIL_LIMIT', async () => {
    const email = freshEmail();
    emails.push(email);
    expect((await register(email)).status).toBe(201);
    expect((await register(email.toUpperCase())).status).toBe(409);
    expect((await register(email, 'password')).status).toBe(400);

    const lookup = jest.spyOn(t.app.get(UsersService), 'findByEmail');
    const kdf = jest.spyOn(
      t.app.get(AccountKeysService),
      'derivePasswordMaterial',
    );
    try {
      const refused = await register(` ${email} `);
      expectTooManyRequests(refused, 60 * 60);
      expect(bodyOf<{ limit: string }>(refused).limit).toBe(
        'REGISTER_EMAIL_LIMIT',
      );
      expect(refused.text.toLowerCase()).not.toContain(email.toLowerCase());
      expect(lookup).not.toHaveBeenCalled();
      expect(kdf).not.toHaveBeenCalled();
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('leaves other emails alone', async () => {
    const probed = freshEmail();
    const other = freshEmail();
    emails.push(probed, other);
    for (let i = 0; i < 3; i++) await register(probed, 'password');
    expect((await register(probed)).status).toBe(429);
    expect((await register(other)).status).toBe(201);
  });

  it('writes no email in any log line', () => {
    expectNoPiiInLogs(t, emails);
  });
});

describe('when the rate-limit Redis does not answer', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { REDIS_URL: 'redis://127.0.0.1:1', AUTH_RATE_LIMIT: '1' },
    });
  });
  afterAll(() => t?.close());

  it('the per-address and per-email limits fail open (each logged once): registration, which needs no Redis, still works', async () => {
    const emails = [freshEmail(), freshEmail()];
    for (const email of emails) {
      const response = await request(t.app.getHttpServer())
        .post('/v1/auth/register')
        .send({ email, password: STRONG_PASSWORD });
      expect(response.status).toBe(201);
      // Nothing was counted, so no budget is claimed (docs/http-api.md#rate-limit-headers).
      expect(response.headers.ratelimit).toBeUndefined();
      expect(response.headers['ratelimit-policy']).toBeUndefined();
    }
    const outageLines = t.logs.filter((line) =>
      String(line.msg).includes('per-address rate limit store unavailable'),
    );
    expect(outageLines).toHaveLength(1);
    expect(outageLines[0].level).toBe(50);
    const registrationOutageLines = t.logs.filter((line) =>
      String(line.msg).includes('registration attempt counter unavailable'),
    );
    expect(registrationOutageLines).toHaveLength(1);
    expect(registrationOutageLines[0].level).toBe(50);
    expectNoPiiInLogs(t, emails);
  });

  it('the per-account limit fails closed: login answers 503 at once, before any KDF', async () => {
    const kdf = jest.spyOn(t.app.get(AccountKeysService), 'verifyPassword');
    const email = freshEmail();
    try {
      const started = Date.now();
      const response = await request(t.app.getHttpServer())
        .post('/v1/auth/login')
        .send({ email, password: STRONG_PASSWORD });
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({
        code: 'service_unavailable',
        status: 503,
      });
      expect(kdf).not.toHaveBeenCalled();
    } finally {
      jest.restoreAllMocks();
    }
    expect(
      t.logs.some((line) =>
        String(line.msg).includes('login attempt counter unavailable'),
      ),
    ).toBe(true);
    expectNoPiiInLogs(t, [email]);
  });
});

const redisUrl = process.env.REDIS_URL;
const skipReason = redisSkipReason(redisUrl);
if (skipReason) console.warn(`Shared rate-limit tests skipped: ${skipReason}`);

(skipReason ? describe.skip : describe)(
  'two instances sharing Redis (REDIS_URL)',
  () => {
    const keyPrefix = `e2e-rate-limit-${randomUUID()}:`;
    let first: TestApp;
    let second: TestApp;
    let admin: Redis;
    const emails: string[] = [];
    const addresses: string[] = [];

    beforeAll(async () => {
      // Same master key: the instances of one deployment derive the same counter keys.
      const env = {
        REDIS_URL: redisUrl as string,
        REDIS_KEY_PREFIX: keyPrefix,
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        TRUST_PROXY: '1',
        AUTH_RATE_LIMIT: '4',
        LOGIN_FAILURE_LIMIT: '3',
        // The default (the test app sets 100000 for other suites).
        REGISTER_EMAIL_LIMIT: '5',
      };
      [first, second] = await Promise.all([
        createTestApp({ env }),
        createTestApp({ env }),
      ]);
      admin = new Redis(redisUrl as string);
    });
    afterAll(async () => {
      await Promise.all([first?.close(), second?.close()]);
      if (admin) {
        const keys = await admin.keys(`${keyPrefix}*`);
        if (keys.length) await admin.del(...keys);
        admin.disconnect();
      }
    });

    it('share the per-address counter', async () => {
      const address = freshAddress();
      addresses.push(address);
      const refresh = (t: TestApp) =>
        request(t.app.getHttpServer())
          .post('/v1/auth/refresh')
          .set('X-Forwarded-For', address)
          .send({ refreshToken: 'x' });
      // RateLimit reports the shared count: each instance sees the other's requests.
      for (const [t, remaining] of [
        [first, 3],
        [second, 2],
        [first, 1],
        [second, 0],
      ] as const) {
        const response = await refresh(t);
        expect(response.status).toBe(401);
        expect(response.headers['ratelimit-policy']).toBe(
          '"AUTH_RATE_LIMIT";q=4;w=60',
        );
        expect(response.headers.ratelimit).toMatch(
          new RegExp(`^"AUTH_RATE_LIMIT";r=${remaining};t=\\d+$`),
        );
      }
      const refused = await refresh(first);
      const retryAfter = expectTooManyRequests(refused, 60);
      expect(refused.headers.ratelimit).toBe(
        `"AUTH_RATE_LIMIT";r=0;t=${retryAfter}`,
      );
      expectTooManyRequests(await refresh(second), 60);
    });

    it('share the per-account counter (an unknown email, so neither database knows it)', async () => {
      const email = freshEmail();
      emails.push(email);
      const login = (t: TestApp) => {
        const address = freshAddress();
        addresses.push(address);
        return request(t.app.getHttpServer())
          .post('/v1/auth/login')
          .set('X-Forwarded-For', address)
          .send({ email, password: WRONG_PASSWORD });
      };
      expect((await login(first)).status).toBe(401);
      expect((await login(second)).status).toBe(401);
      expect((await login(first)).status).toBe(401);
      expectTooManyRequests(await login(second), 15 * 60);
      expectTooManyRequests(await login(first), 15 * 60);
    });

    it('share the per-email register counter (REGISTER_EMAIL_LIMIT, default 5)', async () => {
      const email = freshEmail();
      emails.push(email);
      const register = (t: TestApp) => {
        const address = freshAddress();
        addresses.push(address);
        return request(t.app.getHttpServer())
          .post('/v1/auth/register')
          .set('X-Forwarded-For', address)
          .send({ email, password: 'password' });
      };
      for (const t of [first, second, first, second, first])
        expect((await register(t)).status).toBe(400);
      expectTooManyRequests(await register(second), 60 * 60);
    });

    it('keep every counter under the key prefix, named by an HMAC: no email or address in Redis keys or logs', async () => {
      const keys = await admin.keys(`${keyPrefix}*`);
      expect(keys.length).toBeGreaterThanOrEqual(2);
      for (const key of keys) {
        expect(key).toMatch(
          new RegExp(
            `^${keyPrefix.replace(/[.-]/g, '\\$&')}rate-limit:((login|register):[0-9a-f]{32}|\\{address:[0-9a-f]{32}:auth-address\\}:(hits|blocked))$`,
          ),
        );
      }
      const everything = JSON.stringify(keys).toLowerCase();
      for (const value of [
        ...emails,
        ...emails.map((e) => e.split('@')[0]),
        ...addresses,
        '127.0.0.1',
      ]) {
        expect(everything).not.toContain(value.toLowerCase());
      }
      expect(keys.some((key) => key.includes('rate-limit:login:'))).toBe(true);
      expect(keys.some((key) => key.includes('rate-limit:register:'))).toBe(
        true,
      );
      expect(
        await admin.pttl(
          keys.find((key) => key.includes('rate-limit:login:')) as string,
        ),
      ).toBeGreaterThan(14 * 60_000);
      expectNoPiiInLogs(first, emails, addresses);
      expectNoPiiInLogs(second, emails, addresses);
    });
  },
);

describe('account deletion shares the per-address budget (its password check is a guessing oracle too)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT: '3' } });
  });
  afterAll(() => t?.close());

  it('answers 429 with Retry-After once the budget is spent, without deleting anything', async () => {
    const server = t.app.getHttpServer();
    const register = await request(server).post('/v1/auth/register').send({
      email: 'deleter@example.org',
      password: 'a long enough passphrase 77',
    });
    expect(register.status).toBe(201);
    const loginResponse = await request(server).post('/v1/auth/login').send({
      email: 'deleter@example.org',
      password: 'a long enough passphrase 77',
    });
    expect(loginResponse.status).toBe(200);
    const { accessToken } = bodyOf<TokenPairDto>(loginResponse);
    const del = () =>
      request(server)
        .delete('/v1/me')
        .set('Authorization', `Bearer ${accessToken}`)
        .send({ password: 'wrong passphrase guess 1' });
    expect((await del()).status).toBe(401);
    expectTooManyRequests(await del(), 60);
    const me = await request(server)
      .get('/v1/me')
      .set('Authorization', `Bearer ${accessToken}`);
    expect(me.status).toBe(200);
  });
});
