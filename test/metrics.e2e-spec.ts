import { expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { App } from 'supertest/types';
import { SessionPurgeService } from '../src/auth/sessions/session-purge.service';
import { MetricsListener } from '../src/common/metrics/metrics-listener';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { findCanaries } from './support/canary-scan';
import { createTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/wait-until';

// docs/operations.md#metrics: Prometheus metrics on a listener of their own (METRICS_PORT), read
// here as a scraper would, after real traffic; names and labels only, never a value a request brought.

/** promtool from Debian's `prometheus` package: required in CI, else the lint test says it skipped. */
const promtool = (() => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? 'promtool' : undefined;
})();

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The exposition text as samples (the format's line grammar; comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
    ))
      labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

describe('Prometheus metrics (METRICS_PORT)', () => {
  let t: TestApp;
  let http: () => App;
  let metricsUrl: string;
  let user: LoggedInUser;
  const canary = {
    fullName: 'Metrica Canaryson',
    email: 'metrica.canary@example.org',
  };
  let contactId: string;

  const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(
      /^text\/plain; version=0\.0\.4/,
    );
    const text = await response.text();
    return { text, samples: parseExposition(text) };
  };
  const valueOf = (
    samples: Sample[],
    name: string,
    labels: Record<string, string> = {},
  ): number | undefined =>
    samples.find(
      (sample) =>
        sample.name === name &&
        Object.entries(labels).every(
          ([key, value]) => sample.labels[key] === value,
        ),
    )?.value;

  beforeAll(async () => {
    t = await createTestApp({ env: { METRICS_PORT: '0' } });
    http = () => t.app.getHttpServer();
    const address = t.app.get(MetricsListener).address;
    if (!address) throw new Error('the metrics listener is not listening');
    expect(address.address).toBe('127.0.0.1');
    metricsUrl = `http://127.0.0.1:${address.port}/metrics`;

    user = await registerAndLogin(http());
    const created = await request(http())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send(canary)
      .expect(201);
    contactId = bodyOf<{ id: string }>(created).id;
    await request(http())
      .get(`/v1/contacts/${contactId}`)
      .set(...bearer(user.accessToken))
      .expect(200);
    await request(http())
      .get(`/v1/contacts?email=${encodeURIComponent(canary.email)}`)
      .set(...bearer(user.accessToken))
      .expect(200);
    await request(http())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName: '' })
      .expect(400);
    await request(http()).get(`/v1/no-such-route/${user.userId}`).expect(404);
  });
  afterAll(() => t?.close());

  it('serves only GET /metrics on its own listener, and nothing on the API port', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(404);
    await request(http()).get('/metrics').expect(404);
  });

  it('counts HTTP requests by method, route template and status, with latency histograms', async () => {
    const { samples } = await scrape();
    const count = (labels: Record<string, string>) =>
      valueOf(samples, 'vault_pii_http_request_duration_seconds_count', labels);
    expect(
      count({ method: 'POST', route: '/v1/contacts', status: '201' }),
    ).toBe(1);
    expect(
      count({ method: 'POST', route: '/v1/contacts', status: '400' }),
    ).toBe(1);
    expect(
      count({ method: 'GET', route: '/v1/contacts/:id', status: '200' }),
    ).toBe(1);
    expect(
      count({ method: 'POST', route: '/v1/auth/login', status: '200' }),
    ).toBe(1);
    // An unknown path is one label value however many paths are tried.
    const unmatched = { method: 'GET', route: 'unmatched', status: '404' };
    const before = count(unmatched) ?? 0;
    await request(http()).get(`/v1/other-route/${contactId}`).expect(404);
    expect(
      valueOf(
        (await scrape()).samples,
        'vault_pii_http_request_duration_seconds_count',
        unmatched,
      ),
    ).toBe(before + 1);
    expect(
      valueOf(samples, 'vault_pii_http_request_duration_seconds_bucket', {
        route: '/v1/contacts/:id',
        le: '+Inf',
      }),
    ).toBe(1);
  });

  it('exports the argon2id queue, vault unlocks, encrypted values by column and the event loop lag', async () => {
    const { samples } = await scrape();
    // Register and login: one argon2id derivation each.
    expect(valueOf(samples, 'vault_pii_kdf_run_seconds_count')).toBe(2);
    expect(valueOf(samples, 'vault_pii_kdf_queue_wait_seconds_count')).toBe(2);
    expect(valueOf(samples, 'vault_pii_kdf_calls', { state: 'waiting' })).toBe(
      0,
    );
    expect(
      valueOf(samples, 'vault_pii_vault_unlock_duration_seconds_count', {
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      valueOf(samples, 'vault_pii_encrypted_column_values_total', {
        table: 'contacts',
        column: 'email',
        operation: 'encrypt',
      }),
    ).toBe(1);
    expect(
      valueOf(samples, 'vault_pii_encrypted_column_values_total', {
        table: 'contacts',
        column: 'fullName',
        operation: 'decrypt',
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      valueOf(samples, 'nodejs_eventloop_lag_seconds'),
    ).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('says whether each dependency answers, checked at the scrape by the readiness checks', async () => {
    const { samples } = await scrape();
    for (const dependency of ['database', 'vault_store', 'documents'])
      expect(valueOf(samples, 'vault_pii_dependency_up', { dependency })).toBe(
        1,
      );
    // The documents folder gone (a volume not mounted): down at the next scrape, up once back.
    const folder = join(t.config.dataDir, 'documents');
    renameSync(folder, `${folder}.away`);
    try {
      expect(
        valueOf((await scrape()).samples, 'vault_pii_dependency_up', {
          dependency: 'documents',
        }),
      ).toBe(0);
    } finally {
      renameSync(`${folder}.away`, folder);
    }
    expect(
      valueOf((await scrape()).samples, 'vault_pii_dependency_up', {
        dependency: 'documents',
      }),
    ).toBe(1);
  });

  it('counts an integrity failure against its table and column (a ciphertext moved to another column)', async () => {
    await t.dataSource.query(
      'UPDATE contacts SET full_name = email WHERE id = $1',
      [contactId],
    );
    const read = await request(http())
      .get(`/v1/contacts/${contactId}`)
      .set(...bearer(user.accessToken));
    expect(read.status).toBeGreaterThanOrEqual(400);
    const { samples } = await scrape();
    expect(
      valueOf(samples, 'vault_pii_encrypted_column_integrity_failures_total', {
        table: 'contacts',
        column: 'fullName',
      }),
    ).toBe(1);
  });

  it('counts a key rotation and the values it re-encrypted', async () => {
    const rotated = await registerAndLogin(http());
    for (let i = 0; i < 3; i++)
      await request(http())
        .post('/v1/contacts')
        .set(...bearer(rotated.accessToken))
        .send({ fullName: `Rotated ${i}`, phone: '+14155550100' })
        .expect(201);
    await request(http())
      .post('/v1/me/keys/rotate')
      .set(...bearer(rotated.accessToken))
      .send({ password: rotated.password })
      .expect(200);
    await waitUntil(
      'the rotation completed',
      async () =>
        valueOf((await scrape()).samples, 'vault_pii_key_rotation_runs_total', {
          outcome: 'completed',
        }) === 1,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const { samples } = await scrape();
    // Three contacts (name and phone each) and the profile created at registration, if any.
    expect(
      valueOf(samples, 'vault_pii_key_rotation_values_reencrypted_total'),
    ).toBeGreaterThanOrEqual(6);
    expect(valueOf(samples, 'vault_pii_key_rotations_running')).toBe(0);
  });

  it('counts retention deletions by kind (ended sessions purged)', async () => {
    const ended = await registerAndLogin(http());
    await request(http())
      .post('/v1/auth/logout')
      .set(...bearer(ended.accessToken))
      .expect(204);
    const before =
      valueOf((await scrape()).samples, 'vault_pii_retention_deletions_total', {
        kind: 'ended_session',
      }) ?? 0;
    const report = await t.app
      .get(SessionPurgeService)
      .run(new Date(Date.now() + 400 * 24 * 3600 * 1000));
    expect(report.deleted).toBeGreaterThanOrEqual(1);
    expect(
      valueOf((await scrape()).samples, 'vault_pii_retention_deletions_total', {
        kind: 'ended_session',
      }),
    ).toBe(before + report.deleted);
  });

  it('carries no user id, email, name, contact id, token or path with ids', async () => {
    const { text } = await scrape();
    const findings = findCanaries(
      [
        { label: 'email', text: [canary.email, user.email] },
        { label: 'name', text: [canary.fullName] },
        { label: 'ids', text: [user.userId, contactId] },
        { label: 'tokens', text: [user.accessToken, user.refreshToken] },
        { label: 'password', text: [user.password] },
      ],
      [{ where: 'metrics', text: [text.toLowerCase()], hex: [] }],
    );
    expect(findings).toEqual([]);
    const routes = new Set(
      parseExposition(text)
        .map((sample) => sample.labels.route)
        .filter((route): route is string => route !== undefined),
    );
    for (const route of routes)
      expect(route === 'unmatched' || route.startsWith('/')).toBe(true);
    expect([...routes].filter((route) => /[0-9a-f]{8}-/.test(route))).toEqual(
      [],
    );
  });

  it('passes `promtool check metrics` (Prometheus naming and format rules)', async () => {
    if (!promtool) {
      if (process.env.CI === 'true')
        throw new Error('promtool is missing: .ci/run installs prometheus');
      console.warn(
        'skipped: promtool (Debian package prometheus) is not installed',
      );
      return;
    }
    const { text } = await scrape();
    const check = spawnSync(promtool, ['check', 'metrics'], {
      input: text,
      encoding: 'utf8',
    });
    expect({
      status: check.status,
      output: check.stdout + check.stderr,
    }).toEqual({ status: 0, output: '' });
  });
});

describe('without METRICS_PORT', () => {
  it('opens no metrics listener', async () => {
    const t = await createTestApp();
    try {
      expect(t.app.get(MetricsListener).address).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
