import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Response } from 'supertest';
import type { TokenPairDto } from '../src/auth/dto/auth.dto';
import {
  AppInstance,
  instanceLogs,
  startAppInstance,
  stopAppInstance,
} from './support/app-instances';
import { bearer } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { TcpProxy } from './support/tcp-proxy';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Issue 16: a database that cannot be reached answers 503 `database_unavailable` with
 * `Retry-After` on every route that needs it (never a 500 with a stack trace per request), logs
 * one line when it goes and one when it is back, and the app recovers by itself. The app runs as
 * a real process; its database connection goes through a TCP proxy this file cuts (open
 * connections reset, new ones refused) and restores: the real PostgreSQL behind it is untouched.
 */
describe('when the database cannot be reached (the app as a process, its connection cut)', () => {
  const tag = randomBytes(3).toString('hex');
  const email = `db.outage-${tag}@example.org`;
  const password = `Database outage passphrase ${tag}`;
  const fullName = `Dagny Outage ${tag}`;
  let database: TestDatabase;
  let proxy: TcpProxy;
  let dataDir: string;
  let app: AppInstance;
  let tokens: TokenPairDto;

  const secrets = () => [
    email,
    password,
    fullName,
    tokens?.accessToken ?? '',
    `:${proxy.port}`,
    database.name,
    'ECONNREFUSED',
    'ECONNRESET',
    'Connection terminated',
    'postgres',
  ];
  const authed = (path: string) =>
    app
      .http()
      .get(path)
      .set(...bearer(tokens.accessToken));

  function expect503(response: Response): void {
    expectProblem(response, 503, 'database_unavailable', secrets());
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  }

  const outageLines = () =>
    instanceLogs(app).filter(
      (line) =>
        typeof line.msg === 'string' &&
        /^database (unavailable|available again)$/.test(line.msg),
    );

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url);
    proxy = await TcpProxy.start({
      host: target.hostname,
      port: Number(target.port || 5432),
    });
    dataDir = mkdtempSync(join(tmpdir(), 'e2e-db-outage-'));
    app = await startAppInstance('app', {
      NODE_ENV: 'production',
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: proxy.rewrite(database.url),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      AUTH_RATE_LIMIT: '100000',
    });
    const registered = await app
      .http()
      .post('/v1/auth/register')
      .send({ email, password, profile: { fullName } });
    expect(registered.status).toBe(201);
    const loggedIn = await app
      .http()
      .post('/v1/auth/login')
      .send({ email, password });
    tokens = bodyOf<TokenPairDto>(loggedIn);
    const contact = await app
      .http()
      .post('/v1/contacts')
      .set(...bearer(tokens.accessToken))
      .send({ fullName: `Before ${tag}` });
    expect(contact.status).toBe(201);
  }, 90_000);

  afterAll(async () => {
    await stopAppInstance(app);
    await proxy?.close();
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('answers 503 database_unavailable with Retry-After on every route that needs it, one log line for all', async () => {
    await proxy.cut();
    expect503(await authed('/v1/me/profile'));
    expect503(await authed('/v1/contacts'));
    expect503(
      await app
        .http()
        .post('/v1/contacts')
        .set(...bearer(tokens.accessToken))
        .send({ fullName: `During ${tag}` }),
    );
    expect503(
      await app.http().post('/v1/auth/login').send({ email, password }),
    );
    expect503(
      await app
        .http()
        .post('/v1/auth/register')
        .send({
          email: `other-${email}`,
          password,
          profile: { fullName },
        }),
    );
    for (let i = 0; i < 10; i++) expect503(await authed('/v1/me/profile'));

    expect((await app.http().get('/health/live')).status).toBe(200);
    const ready = await app.http().get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ checks: { database: 'down' } });

    const lines = outageLines();
    expect(lines.map((line) => line.msg)).toEqual(['database unavailable']);
    expect(JSON.stringify(lines)).not.toContain(email);
    expect(
      instanceLogs(app).filter((line) => line.msg === 'unhandled error'),
    ).toEqual([]);
  }, 30_000);

  it('recovers by itself once the database is back: the same session, nothing lost, one line saying so', async () => {
    await proxy.restore();
    const started = Date.now();
    let profile: Response;
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      profile = await authed('/v1/me/profile');
    } while (profile.status !== 200 && Date.now() - started < 15_000);
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ fullName });

    const contacts = await authed('/v1/contacts');
    expect(
      (contacts.body as { items: { fullName: string }[] }).items.map(
        (item) => item.fullName,
      ),
    ).toEqual([`Before ${tag}`]);

    // The probe notices within about a second of the database answering again.
    const deadline = Date.now() + 5_000;
    while (outageLines().length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = outageLines();
    expect(lines.map((line) => line.msg)).toEqual([
      'database unavailable',
      'database available again',
    ]);
    expect(lines[1]).toMatchObject({ dependency: 'database' });
    expect(lines[1].refusedRequests).toBeGreaterThanOrEqual(15);
  }, 30_000);
});
