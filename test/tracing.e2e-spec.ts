import { findFreePort } from '@vault-pii/nest-encryption/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import request from 'supertest';
import type { ContactDto } from '../src/contacts/dto/contact.dto';
import { redisSkipReason } from '@vault-pii/nest-encryption/testing';
import { AppProcess, startAppProcess } from './support/app-process';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { stopApp } from './support/built-app';
import { Canary, findCanaries } from './support/canary-scan';
import { bodyOf } from './support/http-body';
import { attributesOf, OtlpReceiver, OtlpSpan } from './support/otlp-receiver';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Tracing (docs/running.md#tracing) in the real entry point, in its own process: instrumentation
 * must load before http, express, pg and ioredis, which only a fresh process shows.
 */

const PRELOAD = join(__dirname, 'support', 'loaded-modules.preload.js');
/** OTLP's SPAN_KIND_SERVER (not the API's SpanKind.SERVER, which is 1). */
const SERVER = 2;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

interface LoadedModules {
  modules: string[];
  requireReplaced: boolean;
}

/** What the preload wrote as the app exited. */
function loadedModules(file: string): LoadedModules {
  return JSON.parse(readFileSync(file, 'utf8')) as LoadedModules;
}

/**
 * Modules of the OpenTelemetry SDK, its instrumentations and their module patchers. Not
 * `@opentelemetry/api`: prom-client (the metrics) requires it for exemplars, and without an SDK
 * registered it is an inert facade (no-op tracer, no hook, nothing on the request path).
 */
function tracingModules({ modules }: LoadedModules): string[] {
  return modules.filter(
    (path) =>
      /node_modules\/(@opentelemetry\/|require-in-the-middle\/|import-in-the-middle\/)/.test(
        path,
      ) && !/node_modules\/@opentelemetry\/api\//.test(path),
  );
}

describe('tracing (OpenTelemetry over OTLP)', () => {
  let database: TestDatabase;
  const dirs: string[] = [];
  const apps: AppProcess[] = [];

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-tracing-'));
    dirs.push(dir);
    return dir;
  }

  async function start(env: Record<string, string>): Promise<AppProcess> {
    const app = await startAppProcess(
      {
        DATABASE_URL: database.url,
        DATA_DIR: tempDir(),
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        LOG_LEVEL: 'info',
        ...env,
      },
      [],
      ['-r', PRELOAD],
    );
    apps.push(app);
    await app.waitForOutput(/listening on/, 60_000);
    return app;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const app of apps) await stopApp(app);
    await database?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('off (OTEL_EXPORTER_OTLP_ENDPOINT unset): zero cost', () => {
    let app: AppProcess;
    let modulesFile: string;
    const responses: { path: string; headers: Record<string, string> }[] = [];

    beforeAll(async () => {
      modulesFile = join(tempDir(), 'modules.json');
      app = await start({ LOADED_MODULES_FILE: modulesFile });
      const base = `http://127.0.0.1:${app.port}`;
      const incoming = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
      for (const path of ['/health/live', '/v1/contacts', '/v1/nothing']) {
        const response = await fetch(`${base}${path}`, {
          headers: { traceparent: incoming },
        });
        responses.push({
          path,
          headers: Object.fromEntries(response.headers.entries()),
        });
      }
      expect(await stopApp(app)).toBe(0);
    }, 90_000);

    it('answers without a traceparent header', () => {
      expect(responses.map(({ path }) => path)).toHaveLength(3);
      for (const { headers } of responses)
        expect(headers).not.toHaveProperty('traceparent');
    });

    it('loads no OpenTelemetry module and installs no require hook, over its whole life', () => {
      const loaded = loadedModules(modulesFile);
      expect(loaded.modules.length).toBeGreaterThan(500);
      expect(tracingModules(loaded)).toEqual([]);
      expect(loaded.requireReplaced).toBe(false);
      expect(app.output()).toContain('"tracing":"off"');
    });
  });

  const redisUrl = process.env.REDIS_URL;
  const skipReason = redisSkipReason(redisUrl);
  if (skipReason)
    console.warn(`Tracing tests with Redis spans skipped: ${skipReason}`);

  (skipReason ? describe.skip : describe)(
    'on, exporting to a collector',
    () => {
      const receiver: { current?: OtlpReceiver } = {};
      const keyPrefix = `e2e-tracing-${randomUUID()}:`;
      const collectorKey = `collector-key-${randomBytes(12).toString('hex')}`;
      const userAgent = `agent-canary-${randomBytes(8).toString('hex')}`;
      const cookie = `cookie-canary-${randomBytes(8).toString('hex')}`;
      const contactEmail = `zeb.${randomBytes(6).toString('hex')}@example.org`;
      const contactName = `Zebulon Canary${randomBytes(4).toString('hex')}`;
      const contactPhone = `+1 555 ${100_000 + Math.floor(Math.random() * 899_999)}`;
      const incomingTraceId = randomBytes(16).toString('hex');
      const incomingSpanId = randomBytes(8).toString('hex');

      let app: AppProcess;
      let modulesFile: string;
      let user: LoggedInUser;
      let contactId: string;
      let redisCanaries: Canary[];
      const traceparents: Record<string, string | undefined> = {};

      beforeAll(async () => {
        receiver.current = await OtlpReceiver.start();
        modulesFile = join(tempDir(), 'modules.json');
        const metricsPort = await findFreePort();
        app = await start({
          METRICS_PORT: String(metricsPort),
          REDIS_URL: redisUrl as string,
          REDIS_KEY_PREFIX: keyPrefix,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.current.endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_HEADERS: `x-collector-key=${collectorKey}`,
          // Nothing is exported before the shutdown: what arrives was flushed by it.
          OTEL_BSP_SCHEDULE_DELAY: '600000',
          LOADED_MODULES_FILE: modulesFile,
        });
        const base = `http://127.0.0.1:${app.port}`;

        user = await registerAndLogin(base, {
          email: `trace.${randomBytes(6).toString('hex')}@example.org`,
        });
        const created = await request(base)
          .post('/v1/contacts')
          .set(...bearer(user.accessToken))
          .send({
            fullName: contactName,
            email: contactEmail,
            phone: contactPhone,
          })
          .expect(201);
        contactId = bodyOf<ContactDto>(created).id;
        traceparents.create = created.headers.traceparent;

        const search = await request(base)
          .get('/v1/contacts')
          .query({ email: contactEmail })
          .set(...bearer(user.accessToken))
          .set('User-Agent', userAgent)
          .set('Cookie', `session=${cookie}`)
          .expect(200);
        expect(bodyOf<{ items: ContactDto[] }>(search).items).toHaveLength(1);
        traceparents.search = search.headers.traceparent;

        const byId = await request(base)
          .get(`/v1/contacts/${contactId}`)
          .set(...bearer(user.accessToken))
          .set('traceparent', `00-${incomingTraceId}-${incomingSpanId}-01`)
          .expect(200);
        traceparents.byId = byId.headers.traceparent;

        const unknown = await request(base)
          .get(`/v1/nothing/${contactId}`)
          .query({ email: contactEmail })
          .expect(404);
        traceparents.unknown = unknown.headers.traceparent;
        const health = await request(base).get('/health/live').expect(200);
        traceparents.health = health.headers.traceparent;
        // A scrape of the metrics listener is no request of the API either: no span, no header.
        const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        expect(scrape.status).toBe(200);
        await scrape.text();
        traceparents.metrics = scrape.headers.get('traceparent') ?? undefined;

        redisCanaries = await redisContents(redisUrl as string, keyPrefix);
        expect(await stopApp(app)).toBe(0);
      }, 120_000);

      afterAll(() => receiver.current?.close());

      function spans(): OtlpSpan[] {
        return receiver.current!.spans();
      }

      it('returns the server span in a traceparent header: in the incoming trace, as its child', () => {
        const [, traceId, spanId] = TRACEPARENT.exec(traceparents.byId ?? '')!;
        expect(traceId).toBe(incomingTraceId);
        expect(spanId).not.toBe(incomingSpanId);

        const server = spans().find((span) => span.spanId === spanId);
        expect(server).toMatchObject({
          traceId: incomingTraceId,
          parentSpanId: incomingSpanId,
          kind: SERVER,
          name: 'GET /v1/contacts/:id',
        });
        expect(attributesOf(server!.attributes)).toMatchObject({
          'http.route': '/v1/contacts/:id',
          'http.request.method': 'GET',
          'http.response.status_code': 200,
        });
      });

      it('a request without one starts a trace of its own; health probes and metrics scrapes are not traced', () => {
        expect(traceparents.create).toMatch(TRACEPARENT);
        expect(traceparents.search).toMatch(TRACEPARENT);
        expect(traceparents.create).not.toContain(incomingTraceId);
        expect(traceparents.health).toBeUndefined();
        expect(traceparents.metrics).toBeUndefined();
      });

      it('names every server span by its route template, never its URL; no route: the method alone', () => {
        expect(
          spans()
            .filter((span) => span.kind === SERVER)
            .map((span) => span.name)
            .sort(),
        ).toEqual(
          [
            'POST /v1/auth/register',
            'POST /v1/auth/login',
            'POST /v1/contacts',
            'GET /v1/contacts',
            'GET /v1/contacts/:id',
            'GET',
          ].sort(),
        );
      });

      it('the PostgreSQL queries (parameterised SQL) and Redis commands (names only) of a request are its children', () => {
        const [, , serverSpanId] = TRACEPARENT.exec(traceparents.byId ?? '')!;
        const children = spans()
          .filter((span) => span.parentSpanId === serverSpanId)
          .map((span) => attributesOf(span.attributes));
        const queries = children.filter(
          (attributes) => attributes['db.system.name'] === 'postgresql',
        );
        const commands = children.filter(
          (attributes) => attributes['db.system.name'] === 'redis',
        );
        expect(queries.length).toBeGreaterThan(0);
        expect(
          queries.some((query) =>
            String(query['db.query.text']).includes('$1'),
          ),
        ).toBe(true);
        expect(commands.length).toBeGreaterThan(0);
        for (const command of commands)
          expect(command['db.query.text']).toBe(command['db.operation.name']);
      });

      it('exports with the configured headers, as vault-pii-backend, only when the shutdown flushes', () => {
        const { exports } = receiver.current!;
        expect(exports.length).toBeGreaterThan(0);
        for (const { headers } of exports)
          expect(headers['x-collector-key']).toBe(collectorKey);
        expect(receiver.current!.resources()[0]).toMatchObject({
          'service.name': 'vault-pii-backend',
        });
        const loaded = loadedModules(modulesFile);
        expect(tracingModules(loaded)).toEqual(
          expect.arrayContaining([
            expect.stringContaining('@opentelemetry/sdk-trace-node/'),
          ]),
        );
        expect(loaded.requireReplaced).toBe(true);
      });

      it('records no URL, query string, client address, user agent or header', () => {
        const keys = new Set(
          spans().flatMap((span) => span.attributes.map(({ key }) => key)),
        );
        expect(keys).toContain('http.route');
        for (const key of [
          'url.full',
          'url.path',
          'url.query',
          'http.target',
          'http.url',
          'client.address',
          'user_agent.original',
        ])
          expect(keys).not.toContain(key);
        expect([...keys].filter((key) => key.includes('header'))).toEqual([]);
      });

      it('a canary scan of every byte exported finds no email, name, phone, password, token, id, Redis key or value', () => {
        const canaries: Canary[] = [
          {
            label: 'account email',
            text: [user.email, encodeURIComponent(user.email)],
          },
          { label: 'password', text: [user.password] },
          { label: 'access token', text: [user.accessToken] },
          { label: 'refresh token', text: [user.refreshToken] },
          { label: 'recovery code', text: [user.recoveryCode] },
          { label: 'user id', text: [user.userId] },
          { label: 'contact id', text: [contactId] },
          { label: 'contact name', text: [contactName] },
          {
            label: 'contact email',
            text: [contactEmail, encodeURIComponent(contactEmail)],
          },
          {
            label: 'contact phone',
            text: [contactPhone, contactPhone.replace(/\D/g, '')],
          },
          { label: 'user agent', text: [userAgent] },
          { label: 'cookie', text: [cookie] },
          { label: 'collector key', text: [collectorKey] },
          ...redisCanaries,
        ];
        expect(redisCanaries.length).toBeGreaterThan(0);
        const dumps = receiver.current!.exports.map(({ body }, index) => ({
          where: `export#${index}`,
          text: [body.toLowerCase()],
          hex: [Buffer.from(body).toString('hex')],
        }));
        expect(dumps.length).toBeGreaterThan(0);
        expect(findCanaries(canaries, dumps)).toEqual([]);
      });
    },
  );
});

/**
 * Every key the app wrote under `prefix` (session ids, HMACs) and every value (wrapped keys), as
 * canaries: the key without the prefix and its long segments, the value as bytes, hex and base64.
 */
async function redisContents(url: string, prefix: string): Promise<Canary[]> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    const canaries: Canary[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`);
      cursor = next;
      for (const key of keys) {
        const name = key.slice(prefix.length);
        canaries.push({
          label: `redis key ${name}`,
          text: [name, ...name.split(':').filter((part) => part.length >= 16)],
        });
        const values =
          (await redis.type(key)) === 'hash'
            ? Object.values(await redis.hgetallBuffer(key))
            : (await redis.type(key)) === 'string'
              ? [(await redis.getBuffer(key)) as Buffer]
              : [];
        for (const value of values.filter((v) => v.length >= 8))
          canaries.push({
            label: `redis value of ${name}`,
            text: [value.toString('hex'), value.toString('base64')],
            bytes: [value],
          });
      }
    } while (cursor !== '0');
    return canaries;
  } finally {
    redis.disconnect();
  }
}
