/**
 * Document storm section (issue 15, docs/benchmarks.md#document-storm): another user's
 * `GET /v1/me/profile` p50/p99, probed at a fixed rate (open loop), on the idle server and while
 * one user with a large address book (1,000 contacts near every field's maximum; 200 in
 * `--quick`) keeps creating documents. PDFs render in worker threads; the one-render-per-user
 * rule refuses the creations that overlap (429), and the storm comes back 100 ms later.
 * Interleaved rounds, against the compiled app in its own process.
 */
import { BenchSection } from '../support/bench-context';
import { interleave, renderTable, summarize } from '../support/stats';
import {
  login,
  putProfile,
  realisticProfile,
  register,
} from '../http/support/accounts';
import {
  benchServerEnvironment,
  startBenchServer,
} from '../http/support/bench-server';
import { percentile, probeLatency } from '../http/support/load';
import { largeContact } from '../../test/support/large-contact';

const PROBE_RATE = 100;
/**
 * Creation loops of the storming user: each sends the next creation as soon as one is created,
 * and 100 ms after a refusal (429: the user's previous render still runs), so that the refusals
 * do not become a request flood of their own: this measures rendering, not 429s.
 */
const STORM_CONNECTIONS = 2;
const PAUSE_AFTER_REFUSAL_MS = 100;

async function post(
  baseUrl: string,
  path: string,
  token: string,
  body: unknown,
): Promise<number> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

export const runDocumentStormBench: BenchSection = async (context) => {
  const plan = context.quick
    ? { contacts: 200, rounds: 3, seconds: 1.5 }
    : { contacts: 1000, rounds: 5, seconds: 4 };
  const databaseUrl = await context.createDatabase('bench_docstorm');
  const env = {
    ...benchServerEnvironment(context, databaseUrl, 'docstorm'),
    DOCUMENTS_PER_USER_LIMIT: '100000',
    DOCUMENT_CREATION_LIMIT: '10000',
  };
  const server = await startBenchServer(context, { name: 'docstorm', env });
  try {
    const [stormer, reader] = [
      await register(server.baseUrl, 'stormer'),
      await register(server.baseUrl, 'reader'),
    ];
    const stormToken = await login(server.baseUrl, stormer);
    const readerToken = await login(server.baseUrl, reader);
    await putProfile(server.baseUrl, readerToken, realisticProfile(1));
    context.progress(`docstorm: inserting ${plan.contacts} large contacts`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < plan.contacts) {
          const status = await post(
            server.baseUrl,
            '/v1/contacts',
            stormToken,
            largeContact(next++),
          );
          if (status !== 201) throw new Error(`contact insert: ${status}`);
        }
      }),
    );

    const statuses = new Map<number, number>();
    const storm = async (seconds: number) => {
      const until = performance.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: STORM_CONNECTIONS }, async () => {
          while (performance.now() < until) {
            const status = await post(
              server.baseUrl,
              '/v1/documents',
              stormToken,
              { kind: 'profile-summary' },
            );
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status !== 201)
              await new Promise((resolve) =>
                setTimeout(resolve, PAUSE_AFTER_REFUSAL_MS),
              );
          }
        }),
      );
    };
    const probe = () =>
      probeLatency({
        url: server.baseUrl,
        path: '/v1/me/profile',
        headers: { authorization: `Bearer ${readerToken}` },
        ratePerSecond: PROBE_RATE,
        seconds: plan.seconds,
      });

    context.progress(
      `docstorm: warm-up, then ${plan.rounds} rounds of the probe, idle vs during the storm (${plan.seconds} s each)`,
    );
    await storm(1);
    await probe();
    const p50s = { idle: [] as number[], storm: [] as number[] };
    const pooled = { idle: [] as number[], storm: [] as number[] };
    const round = (which: 'idle' | 'storm', latencies: number[]) => {
      pooled[which].push(...latencies);
      p50s[which].push(percentile(latencies, 50));
      return percentile(latencies, 99);
    };
    const p99 = await interleave(plan.rounds, {
      idle: async () => round('idle', await probe()),
      storm: async () => {
        // The storm starts first and outlasts the probe a little.
        const running = storm(plan.seconds + 0.7);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const latencies = await probe();
        await running;
        return round('storm', latencies);
      },
    });
    const ratio = p99.storm.median / p99.idle.median;
    const median = (values: number[]) => summarize(values).median;
    const report =
      renderTable(
        `Document storm: GET /v1/me/profile of another user probed at ${PROBE_RATE} req/s (open loop) for ${plan.seconds} s, idle vs while one user with ${plan.contacts} large contacts creates documents on ${STORM_CONNECTIONS} connections; latency ms, ${plan.rounds} interleaved rounds`,
        [
          [
            'probe',
            'p50 median',
            'p99 median',
            'p99 min',
            'p99 max',
            'p99 of all',
          ],
          ...(['idle', 'storm'] as const).map((which) => [
            which === 'idle' ? 'idle server' : 'during the storm',
            median(p50s[which]).toFixed(2),
            p99[which].median.toFixed(2),
            p99[which].min.toFixed(2),
            p99[which].max.toFixed(2),
            percentile(pooled[which], 99).toFixed(2),
          ]),
        ],
      ) +
      `  docstorm.p99Ratio = ${ratio.toFixed(2)} (≤ 2 wanted)   creations answered: ${JSON.stringify(Object.fromEntries(statuses))}\n`;
    return {
      metrics: {},
      report,
      extra: {
        'docstorm.idleP50Ms': median(p50s.idle),
        'docstorm.idleP99Ms': p99.idle.median,
        'docstorm.stormP50Ms': median(p50s.storm),
        'docstorm.stormP99Ms': p99.storm.median,
        'docstorm.p99Ratio': ratio,
        'docstorm.documentsCreated': statuses.get(201) ?? 0,
      },
    };
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nserver log (end):\n${server.logTail()}`,
      { cause: error },
    );
  } finally {
    await server.stop();
  }
};
