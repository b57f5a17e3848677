import { randomInt } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { waitUntil } from '../support/wait-until';
import { ApiFuzzer, OpenApiDocument } from './api-fuzzer';
import { HttpClient, jsonOf } from './http-client';
import { LoadDriver, PhaseStats, VIRTUAL_USER_PASSWORD } from './load-driver';
import { drawCurve, judgeMemory, MemorySample } from './memory-trend';
import { ReliabilityStack } from './reliability-stack';

/**
 * The standing reliability suite (issue 16; docs/operations.md#reliability-suite). One stack of
 * its own (PostgreSQL cluster, redis-server, the app as a process, all on 127.0.0.1), then, in
 * order: mixed load, three faults under load, the fuzzer, the soak. Figures go to
 * bench/results/reliability-latest.json. Correctness is asserted exactly; time only by bounds
 * generous enough for a loaded 2-core machine.
 */
const setting = (name: string, fallback: number): number => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number`);
  return Number(value);
};
const LOAD_SECONDS = setting('RELIABILITY_LOAD_SECONDS', 60);
const SOAK_SECONDS = setting('RELIABILITY_SOAK_SECONDS', 300);
const FUZZ_PER_OPERATION = setting('RELIABILITY_FUZZ_REQUESTS', 300);
const SEED = setting('RELIABILITY_SEED', randomInt(1, 2 ** 31 - 1));
const CONNECTIONS = 64;
/** How long each dependency stays down. */
const OUTAGE_MS = 4_000;
/** Clean load before a fault and after recovery, each. */
const STEADY_MS = 4_000;
const SOAK_SAMPLE_MS = 5_000;
const MIN_JUDGED_SOAK_SECONDS = 120;

const results: Record<string, unknown> = {
  seed: SEED,
  settings: {
    loadSeconds: LOAD_SECONDS,
    soakSeconds: SOAK_SECONDS,
    fuzzRequestsPerOperation: FUZZ_PER_OPERATION,
    connections: CONNECTIONS,
    outageMs: OUTAGE_MS,
  },
};
const startedAt = Date.now();

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

describe('reliability suite (own PostgreSQL, Redis and app process)', () => {
  let stack: ReliabilityStack;
  let driver: LoadDriver;

  beforeAll(async () => {
    log(
      `reliability: seed ${SEED} (RELIABILITY_SEED=${SEED} repeats the fuzzer's requests)`,
    );
    stack = await ReliabilityStack.start();
    driver = new LoadDriver(stack.port, CONNECTIONS);
    await driver.registerAll();
  }, 300_000);

  afterAll(async () => {
    results.durationSeconds = Math.round((Date.now() - startedAt) / 1000);
    results.machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, node ${process.version}`;
    results.timestamp = new Date().toISOString();
    const dir = join(__dirname, '..', '..', 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(
      dir,
      process.env.RELIABILITY_RESULTS_FILE || 'reliability-latest.json',
    );
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    log(`reliability: wrote ${file}`);
    driver?.close();
    await stack?.close();
  }, 60_000);

  /** Documents rows against files in DATA_DIR/documents (read straight from both). */
  async function documentsInventory(): Promise<{
    rowsWithoutFile: string[];
    filesWithoutRow: string[];
    temporaryFiles: string[];
  }> {
    const client = new Client({ connectionString: stack.postgres.url });
    await client.connect();
    const rows = new Set(
      (await client.query<{ id: string }>('SELECT id FROM documents')).rows.map(
        (r) => r.id,
      ),
    );
    await client.end();
    const names = readdirSync(join(stack.dataDir, 'documents'));
    const files = new Set(
      names.filter((n) => n.endsWith('.vpd')).map((n) => n.slice(0, -4)),
    );
    return {
      rowsWithoutFile: [...rows].filter((id) => !files.has(id)),
      filesWithoutRow: [...files].filter((id) => !rows.has(id)),
      temporaryFiles: names.filter((n) => !n.endsWith('.vpd')),
    };
  }

  function printPhase(phase: PhaseStats): void {
    const summary = phase.summary();
    log(
      `\n${phase.name}: ${summary.requests} requests in ${summary.seconds} s (${summary.requestsPerSecond}/s); failures ${JSON.stringify(summary.failures)}`,
    );
    for (const [route, figures] of Object.entries(summary.routes))
      log(
        `  ${route.padEnd(36)} ${String(figures.requests).padStart(7)}  p50 ${figures.p50Ms} ms  p99 ${figures.p99Ms} ms`,
      );
  }

  it(`mixed load, ${CONNECTIONS} connections for RELIABILITY_LOAD_SECONDS: no error, every acknowledged write read back`, async () => {
    const phase = driver.startPhase('load');
    driver.start();
    await sleep(LOAD_SECONDS * 1000);
    await driver.stop();
    printPhase(phase);
    const ledger = await driver.verifyLedger();
    results.load = { ...phase.summary(), readBack: ledger.checked };
    log(`read back: ${JSON.stringify(ledger.checked)}`);

    expect(phase.failures()).toEqual({});
    expect(ledger.problems).toEqual([]);
    expect(await documentsInventory()).toEqual({
      rowsWithoutFile: [],
      filesWithoutRow: [],
      temporaryFiles: [],
    });
  });

  /**
   * Load, then `inject`, OUTAGE_MS later `restore`; recovery is timed from the restore: until
   * /health/ready answers 200, until the last outage answer, until every user has had a 2xx
   * again. Then STEADY_MS of load that must be clean. Only `allowed` outcomes may appear between
   * the injection and that clean stretch.
   */
  async function underFault(
    name: string,
    allowed: RegExp,
    inject: () => Promise<void>,
    restore: () => Promise<void>,
  ): Promise<{
    outage: PhaseStats;
    restoredAt: number;
    figures: Record<string, unknown>;
  }> {
    const pidBefore = stack.appPid;
    const before = driver.startPhase(`${name}: before`);
    driver.start();
    await sleep(STEADY_MS);
    const outage = driver.startPhase(`${name}: outage and recovery`);
    const injectedAt = Date.now();
    await inject();
    await sleep(OUTAGE_MS);
    await restore();
    const restoredAt = Date.now();
    await waitUntil(
      `the app is ready after the ${name}`,
      () => stack.isReady(),
      { timeoutMs: 60_000, intervalMs: 25 },
    );
    const readyAfterMs = Date.now() - restoredAt;
    await waitUntil(
      `every user has a 2xx after the ${name}`,
      () => driver.users.every((u) => u.lastSuccessAt > restoredAt),
      { timeoutMs: 90_000, intervalMs: 50 },
    );
    const everyUserBackAfterMs = Date.now() - restoredAt;
    const after = driver.startPhase(`${name}: after`);
    await sleep(STEADY_MS);
    await driver.stop();
    for (const phase of [before, outage, after]) printPhase(phase);

    const lastFailureAt = outage.lastFailureAt();
    const figures = {
      downMs: restoredAt - injectedAt,
      readyAfterMs,
      lastFailureAfterMs:
        lastFailureAt === undefined ? null : lastFailureAt - restoredAt,
      everyUserBackAfterMs,
      outageAnswers: outage.failures(),
      sameAppProcess: stack.appPid === pidBefore,
    };
    log(`${name}: ${JSON.stringify(figures)}`);
    expect(before.failures()).toEqual({});
    expect(
      Object.keys(outage.failures()).filter(
        (outcome) => !allowed.test(outcome),
      ),
    ).toEqual([]);
    expect(after.failures()).toEqual({});
    return {
      outage,
      restoredAt,
      figures: { ...figures, after: after.summary().requestsPerSecond },
    };
  }

  async function expectNothingLost(): Promise<Record<string, number>> {
    const ledger = await driver.verifyLedger();
    expect(ledger.problems).toEqual([]);
    return ledger.checked;
  }

  /**
   * A dependency down and back under load: only `allowed` answers meanwhile, the same app
   * process throughout, nothing acknowledged lost, documents rows and files one to one.
   */
  async function dependencyOutage(
    name: string,
    resultKey: string,
    allowed: RegExp,
    inject: () => Promise<void>,
    restore: () => Promise<void>,
  ): Promise<void> {
    const { figures } = await underFault(name, allowed, inject, restore);
    const readBack = await expectNothingLost();
    const inventory = await documentsInventory();
    results[resultKey] = { ...figures, readBack, inventory: counts(inventory) };
    expect(figures.sameAppProcess).toBe(true);
    expect(inventory).toEqual({
      rowsWithoutFile: [],
      filesWithoutRow: [],
      temporaryFiles: [],
    });
  }

  it('Redis killed and restarted empty under load: 503 vault_unavailable/service_unavailable, then 401 session_locked and a new login; no write lost', () =>
    dependencyOutage(
      'Redis outage',
      'redisOutage',
      /^(503 (vault_unavailable|service_unavailable)|401 (session_locked|invalid_token))$/,
      () => stack.redis.kill(),
      () => stack.redis.start(),
    ));

  it('PostgreSQL stopped (immediate) and restarted under load: 503 database_unavailable only; recovery without a restart; no write lost, no orphan', () =>
    dependencyOutage(
      'PostgreSQL outage',
      'postgresOutage',
      /^503 database_unavailable$/,
      () => stack.postgres.stopImmediately(),
      () => stack.postgres.start(),
    ));

  it('the app SIGKILLed and restarted under load: transport errors only while it is down; no write lost', async () => {
    const maybeDocuments = () =>
      driver.users.reduce((sum, u) => sum + u.maybeDocuments, 0);
    const unknownBefore = maybeDocuments();
    const { outage, restoredAt, figures } = await underFault(
      'app SIGKILL',
      /^transport (ECONNREFUSED|ECONNRESET|EPIPE|EABORTED|socket hang up)$/,
      () => stack.killApp(),
      () => stack.startApp(),
    );
    const readBack = await expectNothingLost();
    const inventory = await documentsInventory();
    const unknownCreates = maybeDocuments() - unknownBefore;
    results.appKill = {
      ...figures,
      readBack,
      inventory: counts(inventory),
      unknownDocumentCreates: unknownCreates,
    };
    // startApp resolves once /health/ready is 200: a refused connection after that (1 s for
    // one already failing as it resolved) would be the app answering nothing while "up".
    const lastTransport = Math.max(
      0,
      ...[...outage.lastSeen]
        .filter(([o]) => o.startsWith('transport'))
        .map(([, at]) => at),
    );
    expect(lastTransport).toBeLessThan(restoredAt + 1_000);
    expect(inventory.rowsWithoutFile).toEqual([]);
    // A create killed between its file's rename and its row's commit leaves a file without a row
    // (or a .tmp before the rename): the hourly retention sweep removes those
    // (src/documents/document-retention.service.ts). No more of them than creates cut short.
    expect(
      inventory.filesWithoutRow.length + inventory.temporaryFiles.length,
    ).toBeLessThanOrEqual(unknownCreates);
  });

  it(`fuzzer: RELIABILITY_FUZZ_REQUESTS (${FUZZ_PER_OPERATION}) bad requests per /docs-json operation: no 5xx, problem+json errors, no input echoed`, async () => {
    const client = new HttpClient(stack.port, 16);
    try {
      const openApi = jsonOf<OpenApiDocument>(
        await client.send({ method: 'GET', path: '/docs-json' }),
      );
      const user = driver.users[0];
      const login = async () => {
        const answer = await client.send({
          method: 'POST',
          path: '/v1/auth/login',
          json: {
            email: user.email,
            password: VIRTUAL_USER_PASSWORD,
          },
        });
        if (answer.status !== 200)
          throw new Error(`fuzz login: ${answer.status}`);
        token = jsonOf<{ accessToken: string }>(answer).accessToken;
      };
      let token = '';
      await login();
      const contact = jsonOf<{ id: string }>(
        await client.send({
          method: 'POST',
          path: '/v1/contacts',
          token,
          json: { fullName: 'Fuzz Target' },
        }),
      );
      const document = jsonOf<{ id: string }>(
        await client.send({
          method: 'POST',
          path: '/v1/documents',
          token,
          json: { kind: 'profile-summary' },
        }),
      );
      const fuzzer = new ApiFuzzer(
        openApi,
        client,
        {
          accessToken: () => token,
          renew: login,
          realIds: {
            '/v1/contacts/{id}': contact.id,
            '/v1/documents/{id}': document.id,
            '/v1/documents/{id}/content': document.id,
          },
        },
        SEED,
      );
      const started = Date.now();
      const report = await fuzzer.run(FUZZ_PER_OPERATION);
      const seconds = (Date.now() - started) / 1000;
      log(
        `\nfuzzer (seed ${SEED}): ${report.requests} requests over ${report.operations} operations in ${seconds.toFixed(1)} s; answers ${JSON.stringify(report.byStatus)}`,
      );
      for (const violation of report.violations.slice(0, 30))
        log(`  VIOLATION ${JSON.stringify(violation)}`);
      results.fuzz = {
        seed: SEED,
        requests: report.requests,
        operations: report.operations,
        seconds: Math.round(seconds),
        answers: report.byStatus,
        violations: report.violations.slice(0, 50),
        violationCount: report.violations.length,
      };

      expect(
        Object.values(report.perOperation).every(
          (n) => n >= FUZZ_PER_OPERATION,
        ),
      ).toBe(true);
      // Its first two findings, both fixed: concurrent first PUTs of a profile answered 500 (an
      // insert race), and Express's "Failed to decode param" and the unknown-route detail
      // repeated the path outside `instance`.
      expect(report.violations).toEqual([]);
    } finally {
      client.close();
    }
  });

  it(
    'soak: steady traffic for RELIABILITY_SOAK_SECONDS, memory levels off after warm-up',
    async () => {
      const soak = new LoadDriver(stack.port, 16);
      try {
        await soak.registerAll();
        soak.thinkMs = 20;
        const phase = soak.startPhase('soak');
        const samples: MemorySample[] = [];
        const started = Date.now();
        soak.start();
        const sample = async () =>
          samples.push({
            seconds: (Date.now() - started) / 1000,
            rssMiB: stack.appRssMiB(),
            heapUsedMiB: await stack.appHeapUsedMiB(),
          });
        while (Date.now() - started < SOAK_SECONDS * 1000) {
          await sample();
          await sleep(SOAK_SAMPLE_MS);
        }
        await sample();
        await soak.stop();
        printPhase(phase);
        const verdict = {
          rss: judgeMemory(samples, 'rssMiB'),
          // Its floor over 60 s (twelve samples, more than one collection cycle): the heap after
          // its collections.
          heapUsed: judgeMemory(samples, 'heapUsedMiB', {
            floorWindowSeconds: 60,
          }),
        };
        log(
          `\nsoak memory (MiB):\n${drawCurve(samples)}\n${JSON.stringify(verdict)}`,
        );
        const ledger = await soak.verifyLedger();
        results.soak = {
          ...phase.summary(),
          verdict,
          // [seconds, RSS MiB, heap used MiB]
          samples: samples.map((s) => [
            Math.round(s.seconds),
            Math.round(s.rssMiB),
            Math.round(s.heapUsedMiB),
          ]),
        };

        expect(phase.failures()).toEqual({});
        expect(ledger.problems).toEqual([]);
        // Under 2 minutes there is no settled stretch to judge (a 60 s warm-up, then too few
        // samples for a slope): such a short run (a developer's) prints the curve only.
        if (SOAK_SECONDS >= MIN_JUDGED_SOAK_SECONDS)
          expect({
            rss: verdict.rss.growing,
            heapUsed: verdict.heapUsed.growing,
          }).toEqual({ rss: false, heapUsed: false });
        else
          log(
            `soak shorter than ${MIN_JUDGED_SOAK_SECONDS} s: memory not judged`,
          );
      } finally {
        soak.close();
      }
    },
    (SOAK_SECONDS + 300) * 1000,
  );
});

function counts(inventory: Record<string, string[]>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(inventory).map(([key, list]) => [key, list.length]),
  );
}
