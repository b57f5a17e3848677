import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { JSON_BODY_LIMIT_BYTES } from '../src/common/http/json-body.middleware';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import type { MeDto } from '../src/me/me.controller';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf } from './support/http-body';
import {
  errorFields,
  expectNoSecrets,
  expectProblem,
} from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Hostile and careless input on every route in docs/http-api.md built so far. Each answer must be
 * an RFC 9457 problem with the precise status and code, name the offending fields, echo none of
 * the submitted values, and leave the app serving.
 */

// Distinctive values: none may come back in an answer or reach a log line.
const ECHO_EMAIL = 'echo.canary.7731@example.org';
const ECHO_PASSWORD = 'Echo-canary passphrase 7731';
const ECHO_NEW_PASSWORD = 'Echo-canary new passphrase 7731';
const ECHO_TEXT = 'EchoCanaryText7731';
const ECHO_CODE = 'ECHO-CNRY-7731-ECHO-CNRY-7731-ECHO';
const ECHO_NUMBER = 90817263541;
const ECHO_VALUES = [
  ECHO_EMAIL,
  ECHO_PASSWORD,
  ECHO_NEW_PASSWORD,
  ECHO_TEXT,
  ECHO_CODE,
  String(ECHO_NUMBER),
  'echo.canary',
  'echocanary',
];

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

interface BodySpec {
  /** A body that passes validation (it is only ever sent with a defect added). */
  valid: () => Record<string, unknown>;
  /** Fields whose absence is a 400 naming them. */
  required: string[];
  /** [dotted field, wrong value]: each alone, on top of `valid`, answers 400 naming that field. */
  wrongTypes: [string, unknown][];
}

interface RouteSpec {
  method: Method;
  path: string;
  auth: boolean;
  body?: BodySpec;
}

const PROFILE_WRONG_TYPES = (prefix: string): [string, unknown][] => [
  [`${prefix}fullName`, ECHO_NUMBER],
  [`${prefix}fullName`, [ECHO_TEXT]],
  [`${prefix}fullName`, { value: ECHO_TEXT }],
  [`${prefix}fullName`, true],
  [`${prefix}fullName`, ''],
  [`${prefix}dateOfBirth`, 19151210],
  [`${prefix}dateOfBirth`, '1815-12-10T00:00:00Z'],
  [`${prefix}dateOfBirth`, ECHO_TEXT],
  [`${prefix}phone`, ECHO_NUMBER],
  [`${prefix}phone`, ECHO_TEXT],
  [`${prefix}address`, { street: ECHO_TEXT }],
  [`${prefix}address`, false],
  [`${prefix}nationalId`, true],
  [`${prefix}nationalId`, 'x'.repeat(65)],
];

const FULL_PROFILE = {
  fullName: null,
  dateOfBirth: null,
  phone: null,
  address: null,
  nationalId: null,
};

const ROUTES: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/auth/register',
    auth: false,
    body: {
      valid: () => ({
        email: ECHO_EMAIL,
        password: ECHO_PASSWORD,
        profile: { fullName: ECHO_TEXT },
      }),
      required: ['email', 'password'],
      wrongTypes: [
        ['email', ECHO_NUMBER],
        ['email', [ECHO_EMAIL]],
        ['email', { address: ECHO_EMAIL }],
        ['email', null],
        ['email', true],
        ['email', ECHO_TEXT],
        ['password', ECHO_NUMBER],
        ['password', [ECHO_PASSWORD]],
        ['password', { value: ECHO_PASSWORD }],
        ['password', null],
        ['profile', ECHO_TEXT],
        ['profile', ECHO_NUMBER],
        ['profile', true],
        ['profile', []],
        ['profile', [{ fullName: ECHO_TEXT }]],
        ...PROFILE_WRONG_TYPES('profile.'),
      ],
    },
  },
  {
    method: 'post',
    path: '/v1/auth/login',
    auth: false,
    body: {
      valid: () => ({ email: ECHO_EMAIL, password: ECHO_PASSWORD }),
      required: ['email', 'password'],
      wrongTypes: [
        ['email', ECHO_NUMBER],
        ['email', [ECHO_EMAIL]],
        ['email', null],
        ['password', ECHO_NUMBER],
        ['password', { value: ECHO_PASSWORD }],
        ['password', [ECHO_PASSWORD]],
        ['password', ''],
        ['password', null],
      ],
    },
  },
  {
    method: 'post',
    path: '/v1/auth/refresh',
    auth: false,
    body: {
      valid: () => ({ refreshToken: ECHO_TEXT }),
      required: ['refreshToken'],
      wrongTypes: [
        ['refreshToken', ECHO_NUMBER],
        ['refreshToken', [ECHO_TEXT]],
        ['refreshToken', { token: ECHO_TEXT }],
        ['refreshToken', null],
        ['refreshToken', ''],
        ['refreshToken', true],
      ],
    },
  },
  { method: 'post', path: '/v1/auth/logout', auth: true },
  {
    method: 'post',
    path: '/v1/auth/password',
    auth: true,
    body: {
      valid: () => ({
        currentPassword: ECHO_PASSWORD,
        newPassword: ECHO_NEW_PASSWORD,
      }),
      required: ['currentPassword', 'newPassword'],
      wrongTypes: [
        ['currentPassword', ECHO_NUMBER],
        ['currentPassword', [ECHO_PASSWORD]],
        ['currentPassword', null],
        ['newPassword', ECHO_NUMBER],
        ['newPassword', { value: ECHO_NEW_PASSWORD }],
        ['newPassword', null],
        ['newPassword', 'short'],
      ],
    },
  },
  {
    method: 'post',
    path: '/v1/auth/recover',
    auth: false,
    body: {
      valid: () => ({
        email: ECHO_EMAIL,
        recoveryCode: ECHO_CODE,
        newPassword: ECHO_NEW_PASSWORD,
      }),
      required: ['email', 'recoveryCode', 'newPassword'],
      wrongTypes: [
        ['email', ECHO_NUMBER],
        ['email', [ECHO_EMAIL]],
        ['recoveryCode', 12345678901234567000],
        ['recoveryCode', [ECHO_CODE]],
        ['recoveryCode', null],
        ['recoveryCode', 'x'.repeat(65)],
        ['newPassword', ECHO_NUMBER],
        ['newPassword', null],
      ],
    },
  },
  { method: 'get', path: '/v1/auth/sessions', auth: true },
  { method: 'delete', path: `/v1/auth/sessions/${randomUUID()}`, auth: true },
  { method: 'get', path: '/v1/me', auth: true },
  {
    method: 'delete',
    path: '/v1/me',
    auth: true,
    body: {
      valid: () => ({ password: ECHO_PASSWORD }),
      required: ['password'],
      wrongTypes: [
        ['password', ECHO_NUMBER],
        ['password', [ECHO_PASSWORD]],
        ['password', { value: ECHO_PASSWORD }],
        ['password', null],
        ['password', ''],
      ],
    },
  },
  { method: 'get', path: '/v1/me/profile', auth: true },
  {
    method: 'put',
    path: '/v1/me/profile',
    auth: true,
    body: {
      valid: () => ({
        fullName: ECHO_TEXT,
        dateOfBirth: '1815-12-10',
        phone: '+44 20 7946 0958',
        address: ECHO_TEXT,
        nationalId: ECHO_TEXT,
      }),
      required: ['address', 'dateOfBirth', 'fullName', 'nationalId', 'phone'],
      wrongTypes: PROFILE_WRONG_TYPES(''),
    },
  },
  {
    method: 'patch',
    path: '/v1/me/profile',
    auth: true,
    body: {
      valid: () => ({ fullName: ECHO_TEXT }),
      required: [],
      wrongTypes: PROFILE_WRONG_TYPES(''),
    },
  },
];

const BODY_METHODS = new Set<Method>(['post', 'put', 'patch', 'delete']);
const name = (route: RouteSpec) =>
  `${route.method.toUpperCase()} ${route.path.replace(/[0-9a-f-]{36}$/, ':id')}`;

/** Sets `dotted` in a copy of `body`. */
function withField(
  body: Record<string, unknown>,
  dotted: string,
  value: unknown,
): Record<string, unknown> {
  const copy = structuredClone(body);
  const path = dotted.split('.');
  let target = copy;
  for (const segment of path.slice(0, -1)) {
    target[segment] =
      typeof target[segment] === 'object' && target[segment] !== null
        ? target[segment]
        : {};
    target = target[segment] as Record<string, unknown>;
  }
  target[path[path.length - 1]] = value;
  return copy;
}

function withoutField(
  body: Record<string, unknown>,
  field: string,
): Record<string, unknown> {
  const copy = structuredClone(body);
  delete copy[field];
  return copy;
}

describe('bad input on every auth and account route (docs/http-api.md)', () => {
  let t: TestApp;
  let user: LoggedInUser;
  const server = () => t.app.getHttpServer();

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        LOG_LEVEL: 'trace',
        AUTH_RATE_LIMIT: '100000',
        LOGIN_FAILURE_LIMIT: '100000',
      },
    });
    // Listen once, so raw requests (below) and supertest share one port.
    await new Promise<void>((resolve) =>
      server().listen(0, '127.0.0.1', resolve),
    );
    user = await registerAndLogin(server(), {
      profile: { fullName: 'Bad Input Tester' },
    });
  });
  afterAll(() => t?.close());

  /** A request on `route` with the test user's token when the route needs one. */
  function call(route: RouteSpec): request.Test {
    const req = request(server())[route.method](route.path);
    return route.auth ? req.set(...bearer(user.accessToken)) : req;
  }

  /** Raw HTTP, for what supertest would rewrite: no Content-Type, chunked bodies, exact bytes. */
  function raw(
    route: RouteSpec,
    headers: Record<string, string>,
    chunks: Buffer[],
  ): Promise<request.Response> {
    const { port } = server().address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: route.method.toUpperCase(),
          path: route.path,
          headers: {
            ...(route.auth
              ? { Authorization: `Bearer ${user.accessToken}` }
              : {}),
            ...headers,
          },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (chunk: Buffer) => parts.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              body = {};
            }
            resolve({
              status: res.statusCode,
              headers: res.headers,
              text,
              body,
            } as unknown as request.Response);
          });
        },
      );
      req.on('error', reject);
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  }

  describe.each(ROUTES.map((route) => [name(route), route] as const))(
    '%s',
    (_name, route) => {
      it.each([
        [
          'truncated',
          `{"email": "${ECHO_EMAIL}", "password": "${ECHO_PASSWORD}"`,
        ],
        ['a trailing comma', `{"password": "${ECHO_PASSWORD}",}`],
        ['single quotes', `{'password': '${ECHO_PASSWORD}'}`],
        ['an unquoted key', `{password: "${ECHO_PASSWORD}"}`],
        ['NaN', '{"x": NaN}'],
        ['a bare string (strict JSON)', `"${ECHO_PASSWORD}"`],
        ['null (strict JSON)', 'null'],
        ['a number (strict JSON)', String(ECHO_NUMBER)],
        ['two documents', '{}{}'],
      ])(
        'answers malformed JSON (%s) with 400 malformed_json',
        async (_case, body) => {
          const response = await call(route)
            .set('Content-Type', 'application/json')
            .send(body);
          expectProblem(response, 400, 'malformed_json', ECHO_VALUES);
        },
      );

      it('answers a body over 100 KiB with 413, by Content-Length or chunked', async () => {
        const oversized = JSON.stringify({
          password: ECHO_PASSWORD,
          pad: 'x'.repeat(JSON_BODY_LIMIT_BYTES),
        });
        expectProblem(
          await call(route)
            .set('Content-Type', 'application/json')
            .send(oversized),
          413,
          'payload_too_large',
          ECHO_VALUES,
        );
        const chunked = await raw(
          route,
          {
            'Content-Type': 'application/json',
            'Transfer-Encoding': 'chunked',
          },
          [
            Buffer.from(oversized.slice(0, 50_000)),
            Buffer.from(oversized.slice(50_000)),
          ],
        );
        expectProblem(chunked, 413, 'payload_too_large', ECHO_VALUES);
      });

      it('answers a gzip bomb (1 KiB that inflates past the limit) with 413, and corrupt gzip with 400', async () => {
        const bomb = gzipSync(
          JSON.stringify({
            password: ECHO_PASSWORD,
            pad: ' '.repeat(4 * JSON_BODY_LIMIT_BYTES),
          }),
        );
        expect(bomb.length).toBeLessThan(2048);
        const inflated = await raw(
          route,
          {
            'Content-Type': 'application/json',
            'Content-Encoding': 'gzip',
            'Content-Length': String(bomb.length),
          },
          [bomb],
        );
        expectProblem(inflated, 413, 'payload_too_large', ECHO_VALUES);

        const corrupt = Buffer.from(
          gzipSync(JSON.stringify({ password: ECHO_PASSWORD })),
        );
        corrupt.fill(0x41, 12, 20);
        const broken = await raw(
          route,
          {
            'Content-Type': 'application/json',
            'Content-Encoding': 'gzip',
            'Content-Length': String(corrupt.length),
          },
          [corrupt],
        );
        expectProblem(broken, 400, 'bad_request', ECHO_VALUES);
        const notDeflate = Buffer.from(`{"password": "${ECHO_PASSWORD}"}`);
        const broken2 = await raw(
          route,
          {
            'Content-Type': 'application/json',
            'Content-Encoding': 'deflate',
            'Content-Length': String(notDeflate.length),
          },
          [notDeflate],
        );
        expectProblem(broken2, 400, 'bad_request', ECHO_VALUES);
      });

      if (BODY_METHODS.has(route.method)) {
        it.each([
          ['text/plain', `password=${ECHO_PASSWORD}`],
          [
            'application/x-www-form-urlencoded',
            `password=${encodeURIComponent(ECHO_PASSWORD)}`,
          ],
          [
            'multipart/form-data; boundary=xyz',
            `--xyz\r\nContent-Disposition: form-data; name="password"\r\n\r\n${ECHO_PASSWORD}\r\n--xyz--\r\n`,
          ],
          ['application/xml', `<password>${ECHO_PASSWORD}</password>`],
          ['application/octet-stream', `{"password": "${ECHO_PASSWORD}"}`],
          ['text/json', `{"password": "${ECHO_PASSWORD}"}`],
        ])(
          'answers a %s body with 415 unsupported_media_type',
          async (contentType, body) => {
            expectProblem(
              await call(route).set('Content-Type', contentType).send(body),
              415,
              'unsupported_media_type',
              ECHO_VALUES,
            );
          },
        );

        it('answers a body without Content-Type with 415, and an unsupported charset or encoding with 415', async () => {
          const json = Buffer.from(JSON.stringify({ password: ECHO_PASSWORD }));
          expectProblem(
            await raw(route, { 'Content-Length': String(json.length) }, [json]),
            415,
            'unsupported_media_type',
            ECHO_VALUES,
          );
          expectProblem(
            await call(route)
              .set('Content-Type', 'application/json; charset=iso-8859-1')
              .send(json.toString()),
            415,
            'unsupported_media_type',
            ECHO_VALUES,
          );
          expectProblem(
            await raw(
              route,
              {
                'Content-Type': 'application/json',
                'Content-Encoding': 'compress',
                'Content-Length': String(json.length),
              },
              [json],
            ),
            415,
            'unsupported_media_type',
            ECHO_VALUES,
          );
        });
      } else {
        it('ignores a non-JSON body on a GET (bodies have no meaning there)', async () => {
          const response = await call(route)
            .set('Content-Type', 'text/plain')
            .send(`password=${ECHO_PASSWORD}`);
          expect(response.status).toBe(200);
        });
      }

      if (route.body) {
        const spec = route.body;

        it('answers unknown fields with 400 naming each of them, nested ones included', async () => {
          const body = {
            ...spec.valid(),
            isAdmin: true,
            role: ECHO_TEXT,
            userId: randomUUID(),
          };
          const response = await call(route).send(body);
          expectProblem(response, 400, 'validation_failed', ECHO_VALUES);
          expect(errorFields(response)).toEqual(
            expect.arrayContaining(['isAdmin', 'role', 'userId']),
          );
          expect(bodyOf<ProblemDetails>(response).errors).toContainEqual({
            field: 'isAdmin',
            pointer: '#/isAdmin',
            messages: ['property isAdmin should not exist'],
          });
        });

        it.each(['__proto__', 'constructor', 'prototype'])(
          'answers a "%s" key with 400 naming it (no prototype games)',
          async (key) => {
            const raw = JSON.stringify(spec.valid()).replace(
              /^\{/,
              `{"${key}": {"isAdmin": true, "polluted": "${ECHO_TEXT}"},`,
            );
            const response = await call(route)
              .set('Content-Type', 'application/json')
              .send(raw);
            expectProblem(response, 400, 'validation_failed', ECHO_VALUES);
            expect(errorFields(response)).toContain(key);
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
            expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
          },
        );

        it('answers missing required fields with 400 naming exactly those', async () => {
          for (const field of spec.required) {
            const response = await call(route).send(
              withoutField(spec.valid(), field),
            );
            expectProblem(response, 400, 'validation_failed', ECHO_VALUES);
            expect(errorFields(response)).toEqual([field]);
          }
          if (spec.required.length > 0) {
            const empty = await call(route).send({});
            expectProblem(empty, 400, 'validation_failed', ECHO_VALUES);
            expect([...new Set(errorFields(empty))].sort()).toEqual(
              [...spec.required].sort(),
            );
            // No body at all is an empty object to the parser: the same answer.
            const none = await call(route);
            expectProblem(none, 400, 'validation_failed', ECHO_VALUES);
            expect([...new Set(errorFields(none))].sort()).toEqual(
              [...spec.required].sort(),
            );
          }
        });

        it.each(
          spec.wrongTypes.map(
            ([field, value]) =>
              [field, JSON.stringify(value).slice(0, 40), value] as const,
          ),
        )(
          'answers %s = %s with 400 naming that field, without echoing it',
          async (field, _shown, value) => {
            const response = await call(route).send(
              withField(spec.valid(), field, value),
            );
            expectProblem(response, 400, 'validation_failed', ECHO_VALUES);
            expect([...new Set(errorFields(response))]).toEqual([field]);
            for (const error of bodyOf<ProblemDetails>(response).errors ?? []) {
              expect(error.messages.length).toBeGreaterThan(0);
            }
          },
        );

        it.each([
          ['an array of valid bodies', () => [spec.valid()]],
          ['an empty array', () => []],
        ])('answers %s as the body with 400', async (_case, body) => {
          const response = await call(route)
            .set('Content-Type', 'application/json')
            .send(JSON.stringify(body()));
          expectProblem(response, 400, 'validation_failed', ECHO_VALUES);
        });

        it('answers a deeply nested unknown value with 400, not a crash', async () => {
          const depth = 20_000;
          const deep = `{"nested": ${'['.repeat(depth)}${']'.repeat(depth)}, ${JSON.stringify(spec.valid()).slice(1)}`;
          const response = await call(route)
            .set('Content-Type', 'application/json')
            .send(deep);
          expectProblem(response, 400, 'validation_failed', ECHO_VALUES);
          expect(errorFields(response)).toContain('nested');
        });
      }
    },
  );

  it('registering with a profile that is an array is refused and creates no account', async () => {
    const email = `array.profile.${randomUUID()}@example.org`;
    const response = await request(server())
      .post('/v1/auth/register')
      .send({
        email,
        password: ECHO_PASSWORD,
        profile: [{ fullName: ECHO_TEXT }],
      });
    expectProblem(response, 400, 'validation_failed', [...ECHO_VALUES, email]);
    expect(errorFields(response)).toContain('profile');
    const login = await request(server())
      .post('/v1/auth/login')
      .send({ email, password: ECHO_PASSWORD });
    expectProblem(login, 401, 'invalid_credentials');
  });

  it('answers with no submitted value in any log line, and nothing logged above warn', () => {
    const logs = JSON.stringify(t.logs).toLowerCase();
    for (const value of ECHO_VALUES)
      expect({ value, logged: logs.includes(value.toLowerCase()) }).toEqual({
        value,
        logged: false,
      });
    const errors = t.logs.filter((line) => Number(line.level) >= 50);
    expect(errors).toEqual([]);
  });

  it('keeps serving afterwards: health, login, and the caller’s data are intact', async () => {
    expect((await request(server()).get('/health/live')).status).toBe(200);
    const me = await request(server())
      .get('/v1/me')
      .set(...bearer(user.accessToken));
    expect(me.status).toBe(200);
    expect(bodyOf<MeDto>(me).userId).toBe(user.userId);
    const profile = await request(server())
      .get('/v1/me/profile')
      .set(...bearer(user.accessToken));
    expect(profile.body).toEqual({
      ...FULL_PROFILE,
      fullName: 'Bad Input Tester',
    });
    const login = await request(server())
      .post('/v1/auth/login')
      .send({ email: user.email, password: user.password });
    expect(login.status).toBe(200);
    const sessions = await request(server())
      .get('/v1/auth/sessions')
      .set(...bearer(user.accessToken));
    // The user's session survived every bad logout, and only the last login added one.
    expect((sessions.body as { items: unknown[] }).items).toHaveLength(2);
    expectNoSecrets(me, ECHO_VALUES);
  });
});
