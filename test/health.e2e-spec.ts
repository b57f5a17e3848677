import request from 'supertest';
import { createTestApp, TestApp } from './support/test-app';

describe('health (docs/http-api.md#health)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('GET /health/live answers 200', async () => {
    const response = await http().get('/health/live');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok', checks: {} });
  });

  it('GET /health/ready answers 200 with the database up', async () => {
    const response = await http().get('/health/ready');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      status: 'ok',
      checks: { database: 'up', vault: 'up', documents: 'up' },
      keyMemory: 'locked',
    });
  });

  it('ran the migrations at start-up, recorded in schema_migrations', async () => {
    const applied = await t.dataSource.query<{ name: string }[]>(
      'SELECT name FROM schema_migrations ORDER BY id',
    );
    expect(applied.map((row) => row.name)).toEqual([
      'CreateAuditEvents1795771187744',
      'CreateUsersAndDataKeys1795773554304',
      'CreateSessionsAndProfiles1795774259015',
      'CreateContacts1795774898400',
      'CreateDocuments1795775504630',
      'CreateKeyRotations1795782001272',
      'AddSpentRefreshTokenHashes1796453738084',
      'CreateIdempotencyRecords1796501048497',
      'CreateAccessKeys1796510216834',
    ]);
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM audit_events',
    );
    expect(count).toBe(0);
  });

  // Runs last: it destroys this file's database for real (DROP DATABASE … WITH (FORCE)).
  it('GET /health/ready answers 503 problem+json when the database is gone, and live stays 200', async () => {
    await t.database.drop();
    const started = Date.now();
    const response = await http().get('/health/ready');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.status).toBe(503);
    expect(response.headers['content-type']).toMatch(
      /^application\/problem\+json/,
    );
    expect(response.body).toMatchObject({
      code: 'not_ready',
      status: 503,
      checks: { database: 'down', vault: 'up', documents: 'up' },
      keyMemory: 'locked',
    });
    expect(JSON.stringify(response.body)).not.toContain(t.database.name);
    expect((await http().get('/health/live')).status).toBe(200);
    expect(t.logs).toContainEqual(
      expect.objectContaining({
        level: 50,
        code: 'not_ready',
        checks: { database: 'down', vault: 'up', documents: 'up' },
      }),
    );
    expect(JSON.stringify(t.logs)).not.toContain(t.database.name);
  });
});
