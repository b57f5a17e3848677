import { ACCESS_KEY_RATE_LIMIT_POLICY } from '../src/common/auth/access-key-scopes';
import { randomUUID } from 'node:crypto';
import request, { Response } from 'supertest';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { bearer, STRONG_PASSWORD } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

// docs/http-api.md#rate-limit-headers: RateLimit-Policy and RateLimit
// (draft-ietf-httpapi-ratelimit-headers) on every response of a rate-limited route, each policy
// named after its setting. Memory store here; the Redis-shared numbers are checked in
// rate-limit.e2e-spec.ts ("two instances sharing Redis").

const WRONG_PASSWORD = 'not the right passphrase';
let addressCounter = 0;
/** A documentation address (RFC 5737) of its own: each test speaks from fresh budgets. */
const freshAddress = (): string =>
  `203.0.${Math.floor(addressCounter / 250) + 113}.${(addressCounter++ % 250) + 1}`;
const freshEmail = (): string => `headers.${randomUUID()}@example.org`;

interface PolicyEntry {
  q: number;
  w: number;
}
interface StateEntry {
  r: number;
  t: number;
}

/** A Structured Fields list of `"NAME";a=1;b=2` members, strictly: anything else fails the test. */
function parseList(value: unknown): Map<string, Record<string, number>> {
  expect(typeof value).toBe('string');
  const members = new Map<string, Record<string, number>>();
  for (const member of (value as string).split(', ')) {
    const match = /^"([A-Z_]+)"((?:;[a-z]+=\d+)+)$/.exec(member);
    expect({ member, wellFormed: match !== null }).toEqual({
      member,
      wellFormed: true,
    });
    const params: Record<string, number> = {};
    for (const param of match![2].slice(1).split(';')) {
      const [key, number] = param.split('=');
      params[key] = Number(number);
    }
    members.set(match![1], params);
  }
  return members;
}

const policiesOf = (response: Response) =>
  parseList(response.headers['ratelimit-policy']) as unknown as Map<
    string,
    PolicyEntry
  >;
const statesOf = (response: Response) =>
  parseList(response.headers.ratelimit) as unknown as Map<string, StateEntry>;

/** What an observer sees of a response apart from its id, time and counters' clocks. */
function observable(response: Response): object {
  const { requestId, instance, ...body } = bodyOf<
    ProblemDetails & { requestId?: string }
  >(response) as Record<string, unknown>;
  void requestId;
  void instance;
  const headers = Object.keys(response.headers)
    .filter(
      (name) => !['date', 'x-request-id', 'content-length'].includes(name),
    )
    .sort();
  return {
    status: response.status,
    body,
    headers,
    rateLimitPolicy: response.headers['ratelimit-policy'] as unknown,
    // `t` may differ by the second between two requests; `r` must not differ at all.
    rateLimit: String(response.headers.ratelimit).replace(/;t=\d+/g, ';t=…'),
  };
}

describe('RateLimit and RateLimit-Policy headers (AUTH_RATE_LIMIT=5/1m, LOGIN_FAILURE_LIMIT=3/15m, REGISTER_EMAIL_LIMIT=2/1h, DOCUMENT_CREATION_LIMIT=3/1h)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const login = (email: string, password: string, address = freshAddress()) =>
    http()
      .post('/v1/auth/login')
      .set('X-Forwarded-For', address)
      .send({ email, password });
  const register = (email: string, address = freshAddress()) =>
    http()
      .post('/v1/auth/register')
      .set('X-Forwarded-For', address)
      .send({ email, password: STRONG_PASSWORD });

  /** A fresh account, registered and logged in each from an address of its own. */
  const signUp = async (): Promise<{ email: string; accessToken: string }> => {
    const email = freshEmail();
    expect((await register(email)).status).toBe(201);
    const loggedIn = await login(email, STRONG_PASSWORD);
    expect(loggedIn.status).toBe(200);
    return {
      email,
      accessToken: bodyOf<{ accessToken: string }>(loggedIn).accessToken,
    };
  };

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        TRUST_PROXY: '1',
        AUTH_RATE_LIMIT: '5',
        AUTH_RATE_LIMIT_WINDOW: '1m',
        LOGIN_FAILURE_LIMIT: '3',
        LOGIN_FAILURE_WINDOW: '15m',
        REGISTER_EMAIL_LIMIT: '2',
        REGISTER_EMAIL_WINDOW: '1h',
        DOCUMENT_CREATION_LIMIT: '3',
        DOCUMENT_CREATION_WINDOW: '1h',
      },
    });
  });
  afterAll(() => t?.close());

  it('reports the per-address budget on every auth response (201, 401, 200, then 429 with r=0 and t = Retry-After), and no X-RateLimit-* headers', async () => {
    const address = freshAddress();
    const email = freshEmail();
    const answers = [
      await register(email, address),
      await login(email, WRONG_PASSWORD, address),
      await login(email, STRONG_PASSWORD, address),
      await http()
        .post('/v1/auth/refresh')
        .set('X-Forwarded-For', address)
        .send({ refreshToken: 'not a token' }),
      await login(email, STRONG_PASSWORD, address),
    ];
    expect(answers.map((r) => r.status)).toEqual([201, 401, 200, 401, 200]);
    answers.forEach((response, i) => {
      expect(response.headers['ratelimit-policy']).toBe(
        '"AUTH_RATE_LIMIT";q=5;w=60',
      );
      const state = statesOf(response).get('AUTH_RATE_LIMIT')!;
      expect(state.r).toBe(4 - i);
      expect(state.t).toBeGreaterThanOrEqual(1);
      expect(state.t).toBeLessThanOrEqual(60);
      expect(
        Object.keys(response.headers).filter((name) =>
          /^x-ratelimit|^retry-after-/i.test(name),
        ),
      ).toEqual([]);
    });

    const refused = await login(email, STRONG_PASSWORD, address);
    expect(refused.status).toBe(429);
    expect(bodyOf<Record<string, unknown>>(refused)).toMatchObject({
      code: 'too_many_requests',
      limit: 'AUTH_RATE_LIMIT',
    });
    expect(refused.headers['ratelimit-policy']).toBe(
      '"AUTH_RATE_LIMIT";q=5;w=60',
    );
    expect(refused.headers.ratelimit).toBe(
      `"AUTH_RATE_LIMIT";r=0;t=${refused.headers['retry-after']}`,
    );
  });

  it('names the per-account limit only on its own 429, with r=0 and t = Retry-After, next to the address budget', async () => {
    const email = freshEmail();
    for (let i = 0; i < 3; i++) {
      const failed = await login(email, WRONG_PASSWORD);
      expect(failed.status).toBe(401);
      expect([...policiesOf(failed).keys()]).toEqual(['AUTH_RATE_LIMIT']);
    }
    const locked = await login(email, WRONG_PASSWORD);
    expect(locked.status).toBe(429);
    expect(bodyOf<Record<string, unknown>>(locked)).toMatchObject({
      limit: 'LOGIN_FAILURE_LIMIT',
    });
    expect(locked.headers['ratelimit-policy']).toBe(
      '"AUTH_RATE_LIMIT";q=5;w=60, "LOGIN_FAILURE_LIMIT";q=3;w=900',
    );
    const states = statesOf(locked);
    expect(states.get('AUTH_RATE_LIMIT')!.r).toBe(4);
    expect(states.get('LOGIN_FAILURE_LIMIT')).toEqual({
      r: 0,
      t: Number(locked.headers['retry-after']),
    });
  });

  it('attacker: the headers tell nothing about an email’s failed logins or whether it has an account', async () => {
    // A real account with two failures this window (someone guessing), an unknown email with
    // none, and a real account with none: each probed once from an address of its own.
    const guessed = await signUp();
    await login(guessed.email, WRONG_PASSWORD);
    await login(guessed.email, WRONG_PASSWORD);
    const quiet = await signUp();
    const probes = [
      await login(guessed.email, WRONG_PASSWORD),
      await login(freshEmail(), WRONG_PASSWORD),
      await login(quiet.email, WRONG_PASSWORD),
    ];
    expect(probes[0].status).toBe(401);
    expect(observable(probes[1])).toEqual(observable(probes[0]));
    expect(observable(probes[2])).toEqual(observable(probes[0]));
  });

  it('attacker: register answers do not count down an email’s attempts', async () => {
    const tried = freshEmail();
    expect((await register(tried)).status).toBe(201);
    const again = await register(tried); // 409 email_taken: the API says this much already
    const fresh = await register(freshEmail());
    expect(again.status).toBe(409);
    expect(fresh.status).toBe(201);
    for (const response of [again, fresh]) {
      expect(response.headers['ratelimit-policy']).toBe(
        '"AUTH_RATE_LIMIT";q=5;w=60',
      );
      expect(statesOf(response).get('AUTH_RATE_LIMIT')!.r).toBe(4);
    }
    const refused = await register(tried);
    expect(refused.status).toBe(429);
    expect(refused.headers['ratelimit-policy']).toBe(
      '"AUTH_RATE_LIMIT";q=5;w=60, "REGISTER_EMAIL_LIMIT";q=2;w=3600',
    );
    expect(statesOf(refused).get('REGISTER_EMAIL_LIMIT')).toEqual({
      r: 0,
      t: Number(refused.headers['retry-after']),
    });
  });

  it('reports the per-user document creation budget on each creation, and r=0 on its 429', async () => {
    const user = await signUp();
    const create = () =>
      http()
        .post('/v1/documents')
        .set(...bearer(user.accessToken))
        .send({ kind: 'profile-summary' });
    for (const remaining of [2, 1, 0]) {
      const created = await create();
      expect(created.status).toBe(201);
      expect(created.headers['ratelimit-policy']).toBe(
        '"DOCUMENT_CREATION_LIMIT";q=3;w=3600',
      );
      const state = statesOf(created).get('DOCUMENT_CREATION_LIMIT')!;
      expect(state.r).toBe(remaining);
      expect(state.t).toBeGreaterThan(3500);
      expect(state.t).toBeLessThanOrEqual(3600);
    }
    const refused = await create();
    expect(refused.status).toBe(429);
    expect(refused.headers.ratelimit).toBe(
      `"DOCUMENT_CREATION_LIMIT";r=0;t=${refused.headers['retry-after']}`,
    );
  });

  it('sends none on a route without a rate limit', async () => {
    const user = await signUp();
    const profile = await http()
      .get('/v1/me/profile')
      .set(...bearer(user.accessToken));
    expect(profile.status).toBe(200);
    expect(profile.headers.ratelimit).toBeUndefined();
    expect(profile.headers['ratelimit-policy']).toBeUndefined();
  });

  it('documents both headers on every response of a rate-limited operation in the OpenAPI document, and on no other', async () => {
    const document = bodyOf<{
      paths: Record<
        string,
        Record<
          string,
          {
            'x-rate-limit-policies'?: string[];
            responses: Record<string, { headers?: Record<string, unknown> }>;
          }
        >
      >;
      components: { headers?: Record<string, unknown> };
    }>(await http().get('/docs-json').expect(200));
    const headerRefs = {
      'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
      RateLimit: { $ref: '#/components/headers/RateLimit' },
    };
    expect(Object.keys(document.components.headers ?? {})).toEqual(
      expect.arrayContaining(['RateLimit', 'RateLimit-Policy']),
    );
    const limited: Record<string, string[]> = {};
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const policies = operation['x-rate-limit-policies'];
        for (const [status, response] of Object.entries(operation.responses)) {
          if (policies)
            expect({ path, method, status, headers: response.headers }).toEqual(
              expect.objectContaining({
                headers: expect.objectContaining(headerRefs) as unknown,
              }),
            );
          else expect(response.headers?.RateLimit).toBeUndefined();
        }
        if (policies) limited[`${method.toUpperCase()} ${path}`] = policies;
      }
    }
    expect(limited).toEqual({
      'POST /v1/auth/register': ['AUTH_RATE_LIMIT'],
      'POST /v1/auth/login': ['AUTH_RATE_LIMIT'],
      'POST /v1/auth/refresh': ['AUTH_RATE_LIMIT'],
      'POST /v1/auth/password': ['AUTH_RATE_LIMIT'],
      'POST /v1/auth/recover': ['AUTH_RATE_LIMIT'],
      'DELETE /v1/me': ['AUTH_RATE_LIMIT'],
      'POST /v1/me/keys/rotate': ['AUTH_RATE_LIMIT'],
      'POST /v1/me/access-keys': ['AUTH_RATE_LIMIT'],
      'POST /v1/documents': [
        'DOCUMENT_CREATION_LIMIT',
        ACCESS_KEY_RATE_LIMIT_POLICY,
      ],
      // Every route an access key may call: its per-key limit (sent to access keys only).
      ...Object.fromEntries(
        [
          'GET /v1/me/profile',
          'PUT /v1/me/profile',
          'PATCH /v1/me/profile',
          'POST /v1/contacts',
          'GET /v1/contacts',
          'POST /v1/contacts/search',
          'GET /v1/contacts/{id}',
          'PATCH /v1/contacts/{id}',
          'DELETE /v1/contacts/{id}',
          'GET /v1/documents',
          'GET /v1/documents/{id}',
          'DELETE /v1/documents/{id}',
          'GET /v1/documents/{id}/content',
        ].map((operation) => [operation, [ACCESS_KEY_RATE_LIMIT_POLICY]]),
      ),
    });
  });
});
