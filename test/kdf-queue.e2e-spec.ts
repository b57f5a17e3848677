import { expect } from '@jest/globals';
import request, { Response } from 'supertest';
import type { App } from 'supertest/types';
import { AccountKeysService } from '../src/auth/account-keys.service';
import { PasswordKdf } from '../src/auth/kdf/password-kdf';
import type { ConcurrencyLimit } from '../src/auth/kdf/concurrency-limit';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { ServiceBusyError } from '../src/common/problem/too-many-requests.error';
import {
  bearer,
  LoggedInUser,
  registerAndLogin,
  RegisteredUser,
  registerUser,
  STRONG_PASSWORD,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

// The bounded argon2id queue (docs/limits.md#configurable: KDF_QUEUE_LIMIT, KDF_QUEUE_TIMEOUT_MS):
// a password check that finds the queue full, or waits too long in it, answers 503 at once
// instead of making every login wait behind a storm.

const QUEUE_LIMIT = 2;
const QUEUE_TIMEOUT_MS = 1500;
const WRONG_PASSWORD = 'not the right passphrase';

let addressCounter = 0;
/** A documentation address (RFC 5737) of its own per request: no per-address limit in the way. */
const freshAddress = (): string =>
  `203.0.${Math.floor(addressCounter / 250) + 113}.${(addressCounter++ % 250) + 1}`;

/** 503 `service_unavailable` problem+json with `Retry-After`, naming the setting that said no. */
function expectBusy(
  response: Response,
  limits: readonly string[] = ['KDF_QUEUE_LIMIT', 'KDF_QUEUE_TIMEOUT_MS'],
): void {
  const body = bodyOf<ProblemDetails & { limit?: string }>(response);
  expect({ status: response.status, code: body?.code }).toEqual({
    status: 503,
    code: 'service_unavailable',
  });
  expect(response.headers['content-type']).toMatch(
    /^application\/problem\+json/,
  );
  expect(limits).toContain(body.limit);
  expect(Object.keys(body).sort()).toEqual(
    [
      'code',
      'detail',
      'instance',
      'limit',
      'requestId',
      'status',
      'title',
      'type',
    ].sort(),
  );
  // The queue turns over within KDF_QUEUE_TIMEOUT_MS: retry after that, in whole seconds.
  expect(response.headers['retry-after']).toBe(
    String(Math.ceil(QUEUE_TIMEOUT_MS / 1000)),
  );
}

describe(`bounded argon2id queue (KDF_QUEUE_LIMIT=${QUEUE_LIMIT}, KDF_QUEUE_TIMEOUT_MS=${QUEUE_TIMEOUT_MS})`, () => {
  let t: TestApp;
  let server: App;
  let queue: ConcurrencyLimit;
  /** Tasks of this test holding argon2id slots or queue places; `release` lets them finish. */
  const held: (() => void)[] = [];

  /**
   * Takes every argon2id slot (`queued: true`: and every queue place) with tasks of the test's own,
   * through the app's queue itself, so that the next password check is refused whatever the
   * machine's speed.
   */
  function occupy({ queued }: { queued: boolean }): void {
    const places = queue.limit + (queued ? QUEUE_LIMIT : 0);
    for (let i = 0; i < places; i++)
      queue
        .run(() => new Promise<void>((resolve) => held.push(resolve)))
        .catch(() => undefined);
  }
  /** Lets the held tasks finish, the queued ones too as they get their slots. */
  async function release(): Promise<void> {
    while (held.length > 0) {
      held.splice(0).forEach((resolve) => resolve());
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        TRUST_PROXY: '1',
        KDF_QUEUE_LIMIT: String(QUEUE_LIMIT),
        KDF_QUEUE_TIMEOUT_MS: String(QUEUE_TIMEOUT_MS),
        LOGIN_FAILURE_LIMIT: '3',
      },
    });
    server = t.app.getHttpServer();
    queue = t.app.get(PasswordKdf)['limit'];
  });
  afterEach(() => release());
  afterAll(() => t?.close());

  const post = (path: string, body: object, user?: LoggedInUser) => {
    const call = request(server)
      .post(path)
      .set('X-Forwarded-For', freshAddress());
    return (user ? call.set(...bearer(user.accessToken)) : call).send(body);
  };

  const loginAs = (user: RegisteredUser, password = user.password) =>
    post('/v1/auth/login', { email: user.email, password });

  it('answers a password check that finds the queue full with 503 at once, naming KDF_QUEUE_LIMIT', async () => {
    const user = await registerAndLogin(server);
    occupy({ queued: true });
    const started = Date.now();
    const response = await loginAs(user);
    expect(Date.now() - started).toBeLessThan(QUEUE_TIMEOUT_MS);
    expectBusy(response, ['KDF_QUEUE_LIMIT']);
    expect(response.text).not.toContain(user.email);
    await release();
    expect((await loginAs(user)).status).toBe(200);
  });

  it('answers a check that waited KDF_QUEUE_TIMEOUT_MS with 503 naming KDF_QUEUE_TIMEOUT_MS; it leaves the queue and never runs', async () => {
    const user = await registerAndLogin(server);
    occupy({ queued: false });
    const started = Date.now();
    const response = await loginAs(user);
    expect(Date.now() - started).toBeGreaterThanOrEqual(QUEUE_TIMEOUT_MS - 50);
    expectBusy(response, ['KDF_QUEUE_TIMEOUT_MS']);
    expect(queue.queued).toBe(0);
    await release();
    expect([queue.active, queue.queued]).toEqual([0, 0]);
  });

  it('covers every password route: register, login, password change, recovery, deletion, key rotation', async () => {
    const user = await registerAndLogin(server);
    const email = `kdf.busy.${Date.now()}@example.org`;
    occupy({ queued: true });
    const answers = {
      register: await post('/v1/auth/register', {
        email,
        password: STRONG_PASSWORD,
      }),
      login: await loginAs(user),
      password: await post(
        '/v1/auth/password',
        {
          currentPassword: user.password,
          newPassword: 'another long passphrase 9931',
        },
        user,
      ),
      recover: await post('/v1/auth/recover', {
        email: user.email,
        recoveryCode: user.recoveryCode,
        newPassword: 'another long passphrase 9931',
      }),
      rotate: await post(
        '/v1/me/keys/rotate',
        { password: user.password },
        user,
      ),
      delete: await request(server)
        .delete('/v1/me')
        .set(...bearer(user.accessToken))
        .send({ password: user.password }),
    };
    for (const response of Object.values(answers)) expectBusy(response);
    await release();

    // Nothing happened: no account for the new email, the password and recovery code unchanged.
    expect(
      (await post('/v1/auth/login', { email, password: STRONG_PASSWORD }))
        .status,
    ).toBe(401);
    expect((await loginAs(user)).status).toBe(200);
    expect(
      (
        await post('/v1/auth/recover', {
          email: user.email,
          recoveryCode: user.recoveryCode,
          newPassword: 'another long passphrase 9931',
        })
      ).status,
    ).toBe(200);
  });

  it('does not count a refused check as a failed attempt on the account (LOGIN_FAILURE_LIMIT=3)', async () => {
    const user = await registerAndLogin(server);
    occupy({ queued: true });
    for (let i = 0; i < 6; i++) expectBusy(await loginAs(user, WRONG_PASSWORD));
    await release();
    // All three failures are still to spend, then the account locks.
    for (let i = 0; i < 3; i++)
      expect((await loginAs(user, WRONG_PASSWORD)).status).toBe(401);
    expect((await loginAs(user)).status).toBe(429);
  });

  it('a right password still logs in when the queue refuses only the cost upgrade after it; the next login upgrades', async () => {
    const user = await registerAndLogin(server);
    const keys = t.app.get(AccountKeysService);
    jest.spyOn(keys, 'needsUpgrade').mockReturnValue(true);
    const upgrade = jest
      .spyOn(keys, 'derivePasswordMaterial')
      .mockRejectedValueOnce(new ServiceBusyError(2, 'busy'));
    try {
      expect((await loginAs(user)).status).toBe(200);
      expect(upgrade).toHaveBeenCalledTimes(1);
      expect((await loginAs(user)).status).toBe(200);
      expect(upgrade).toHaveBeenCalledTimes(2);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('a burst of logins from distinct addresses: the overflow answers 503, the rest 200, never 500; the next login succeeds', async () => {
    // Three logins per account: all three in flight at once stay within LOGIN_FAILURE_LIMIT.
    const users: RegisteredUser[] = [];
    for (let i = 0; i < 10; i++) users.push(await registerUser(server));
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) => loginAs(users[i % users.length])),
    );
    const statuses = burst.map((response) => response.status);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    const busy = burst.filter((response) => response.status === 503);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const response of busy) expectBusy(response);

    const after = await loginAs(users[0]);
    expect(after.status).toBe(200);
  });

  it('logs the busy spell without any email or address', () => {
    const lines = t.logs.filter((line) =>
      String(line.msg).includes('argon2id queue full'),
    );
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const logs = JSON.stringify(t.logs);
    expect(logs).not.toMatch(/@example\.org/);
    expect(logs).not.toMatch(/203\.0\.11[3-9]\./);
  });
});
