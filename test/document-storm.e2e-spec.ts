import { monitorEventLoopDelay } from 'node:perf_hooks';
import request from 'supertest';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { createTestApp, TestApp } from './support/test-app';
import { largeContact } from './support/large-contact';

/** Contacts of the storming user, each near the maximum size of every field it has. */
const CONTACTS = 1000;
/** How long the storm lasts in all, ms, over ROUNDS storm phases. */
const STORM_MS = 6000;
/** Idle and storm phases, alternating. */
const ROUNDS = 3;
/** Profile reads per phase (≥ 100 in all for each of idle and storm). */
const SAMPLES_PER_ROUND = 40;
/** Concurrent creation loops of the storming user. */
const STORM_CONNECTIONS = 2;
/** Pause between two reads of the probing user, ms (so that ≥ 100 samples take a few seconds). */
const PROBE_PAUSE_MS = 15;
/** The floor added to the 2× bound: a few ms of jitter on a loaded 2-core machine is not a stall. */
const FLOOR_MS = 50;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)
  ];
}

/**
 * Issue 15: PDF rendering runs in worker threads, so one user's storm of document creations over
 * a large address book does not stall anybody else's requests (docs/documents.md).
 */
describe('a document storm does not stall other users (issue 15)', () => {
  // A latency bound on a shared 2-core machine: one stall of the whole VM (seen in CI: every
  // probe, /health/live included, 200 ms late at once) can push the p99 over it. Tried once more,
  // with the first attempt's figures and failure logged; a real stall fails both.
  jest.retryTimes(1, { logErrorsBeforeRetry: true });

  let t: TestApp;
  let stormer: LoggedInUser;
  let reader: LoggedInUser;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        LOG_LEVEL: 'warn',
        DOCUMENTS_PER_USER_LIMIT: '100000',
        DOCUMENT_CREATION_LIMIT: '10000',
      },
    });
    [stormer, reader] = [
      await registerAndLogin(t.app.getHttpServer()),
      await registerAndLogin(t.app.getHttpServer(), {
        profile: { fullName: 'Grace Hopper', address: '1 Navy Yard' },
      }),
    ];
    // As fast as the API takes them: a few connections at once.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < CONTACTS) {
          const i = next++;
          await http()
            .post('/v1/contacts')
            .set(...bearer(stormer.accessToken))
            .send(largeContact(i))
            .expect(201);
        }
      }),
    );
  }, 180_000);
  afterAll(() => t?.close());

  /** Sequential profile reads of the other user (≥ `count`, for at least `ms`), each timed. */
  async function sampleReads(count: number, ms = 0): Promise<number[]> {
    const latencies: number[] = [];
    const until = Date.now() + ms;
    while (latencies.length < count || Date.now() < until) {
      const started = performance.now();
      const response = await http()
        .get('/v1/me/profile')
        .set(...bearer(reader.accessToken));
      latencies.push(performance.now() - started);
      expect(response.status).toBe(200);
      await sleep(PROBE_PAUSE_MS);
    }
    return latencies;
  }

  it('keeps another user’s profile p99 within max(2× idle, idle + 50 ms), and /health/live under 500 ms', async () => {
    // Warm up: the worker thread starts, PostgreSQL caches the contacts.
    await http()
      .post('/v1/documents')
      .set(...bearer(stormer.accessToken))
      .send({ kind: 'profile-summary' })
      .expect(201);
    await sampleReads(20);

    // Idle and storm phases alternate, so that the load of a shared machine falls on both alike.
    const idle: number[] = [];
    const during: number[] = [];
    const health: number[] = [];
    const statuses = new Map<number, number>();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    for (let round = 0; round < ROUNDS; round++) {
      idle.push(...(await sampleReads(SAMPLES_PER_ROUND)));

      let storming = true;
      const storm = Promise.all(
        Array.from({ length: STORM_CONNECTIONS }, async () => {
          while (storming) {
            const response = await http()
              .post('/v1/documents')
              .set(...bearer(stormer.accessToken))
              .send({ kind: 'profile-summary' });
            statuses.set(
              response.status,
              (statuses.get(response.status) ?? 0) + 1,
            );
            // A refused client comes straight back: a short pause only keeps the refusals from
            // becoming a flood of their own (this measures rendering, not 429s).
            if (response.status !== 201) await sleep(100);
          }
        }),
      );
      const healthProbe = (async () => {
        while (storming) {
          const started = performance.now();
          await http().get('/health/live').expect(200);
          health.push(performance.now() - started);
          await sleep(50);
        }
      })();
      await sleep(300); // the storm's first render is under way
      loopDelay.enable();
      during.push(...(await sampleReads(SAMPLES_PER_ROUND, STORM_MS / ROUNDS)));
      loopDelay.disable();
      storming = false;
      await Promise.all([storm, healthProbe]);
    }

    const idleP99 = p99(idle);
    const stormP99 = p99(during);
    const bound = Math.max(2 * idleP99, idleP99 + FLOOR_MS);
    const figures = {
      idleP99: Number(idleP99.toFixed(1)),
      stormP99: Number(stormP99.toFixed(1)),
      bound: Number(bound.toFixed(1)),
      samples: during.length,
      healthMax: Number(Math.max(...health).toFixed(1)),
      eventLoopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
      creations: Object.fromEntries(statuses),
    };
    console.log(`document storm: ${JSON.stringify(figures)}`);
    // The storm really rendered documents, and refused the rest per user.
    expect(statuses.get(201) ?? 0).toBeGreaterThanOrEqual(1);
    expect(statuses.get(429) ?? 0).toBeGreaterThanOrEqual(1);
    expect([...statuses.keys()].filter((s) => s !== 201 && s !== 429)).toEqual(
      [],
    );
    expect(during.length).toBeGreaterThanOrEqual(100);
    expect(stormP99).toBeLessThanOrEqual(bound);
    expect(Math.max(...health)).toBeLessThan(500);
  }, 120_000);
});
