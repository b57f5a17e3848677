/**
 * Login section (issue 6, docs/benchmarks.md#targets), against the compiled app in its own process.
 *
 * 1. KDF ratio: the raw argon2id rate — `derivePasswordMasterKey` (library crypto/kdf.ts, the call
 *    the app makes: argon2id, then the HMAC of KDF version 2, a few µs) at the cost and version
 *    the app configures, with one call in flight per core (and, in
 *    the full run, also one per libuv threadpool thread: the better of the two is the baseline),
 *    in this process — against successful `POST /v1/auth/login` per second (autocannon, several
 *    accounts in turn, twice as many connections as threadpool threads). Interleaved rounds.
 * 2. Storm: p99 latency of `GET /v1/me/profile` probed at a fixed, modest rate (open loop: a
 *    stall shows as latency, not as a lower rate), while the same login load runs, against the
 *    same probe on the idle server. Interleaved rounds; the ratio is of the rounds' median p99s.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { AccountKeysService } from '../../src/auth/account-keys.service';
import { AppMetrics } from '../../src/common/metrics/app-metrics';
import { PasswordKdf } from '../../src/auth/kdf/password-kdf';
import { threadpoolSize } from '../../src/auth/kdf/threadpool-priority';
import { loadAppConfig } from '../../src/config/app-config';
import { ServerKeys } from '../../src/config/server-keys';
import {
  derivePasswordMasterKey,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import { BenchSection } from '../support/bench-context';
import {
  interleave,
  ratio,
  renderTable,
  Summary,
  summarize,
  summaryCells,
} from '../support/stats';
import {
  login,
  putProfile,
  realisticProfile,
  registerMany,
} from './support/accounts';
import { sharedBenchServer } from './support/bench-server';
import { measureThroughput, percentile, probeLatency } from './support/load';

/**
 * Requests per second of the latency probe: on this 2-core machine a profile read costs the
 * server about 1.5 ms of CPU, so 100/s keeps its event loop about 15 % busy — far from saturation.
 */
const PROBE_RATE = 100;

export const runLoginBench: BenchSection = async (context) => {
  const defaults = context.quick
    ? {
        accounts: 4,
        rounds: 5,
        seconds: 0.4,
        lead: 0.2,
        settle: 0.15,
        probeSeconds: 0.4,
        bothHashWidths: false,
      }
    : {
        accounts: 16,
        rounds: 7,
        seconds: 3,
        lead: 0.5,
        settle: 1,
        probeSeconds: 3,
        bothHashWidths: true,
      };
  let plan = defaults;
  const cores = availableParallelism();
  const threadpool = threadpoolSize();
  const loginConnections = 2 * threadpool;

  const { server, env } = await sharedBenchServer(context);
  try {
    // The cost the app configures for new passwords, read from the server's own environment.
    const config = loadAppConfig(env);
    const serverKeys = new ServerKeys(config);
    const params = new AccountKeysService(
      serverKeys,
      config,
      new PasswordKdf(serverKeys, config, new AppMetrics()),
    ).argon2Params;
    const kdfSecrets = {
      pepper: randomBytes(32),
      argon2OutputKey: randomBytes(32),
    };

    context.progress(`login: registering ${plan.accounts} accounts`);
    const accounts = await registerMany(server.baseUrl, plan.accounts, 'login');
    const bodies = accounts.map((account) =>
      JSON.stringify({ email: account.email, password: account.password }),
    );
    const probeToken = await login(server.baseUrl, accounts[0]);
    await putProfile(server.baseUrl, probeToken, realisticProfile(3));

    /**
     * argon2id calls completed per second with `width` calls always in flight, counted over the
     * last `seconds` of `lead + seconds` (the steady state, as for the logins).
     */
    const hashRate = async (seconds: number, width: number) => {
      const windowStart = performance.now() + plan.lead * 1000;
      const windowEnd = windowStart + seconds * 1000;
      let completed = 0;
      await Promise.all(
        Array.from({ length: width }, async () => {
          while (performance.now() < windowEnd) {
            zeroBuffer(
              await derivePasswordMasterKey(
                'correct horse battery staple',
                randomBytes(16),
                params,
                kdfSecrets,
              ),
            );
            const now = performance.now();
            if (now >= windowStart && now < windowEnd) completed++;
          }
        }),
      );
      return completed / seconds;
    };
    /**
     * Logins for `lead + seconds`, then a pause while the server finishes the logins it had
     * queued when the load stopped (up to one per connection) and PostgreSQL its writes:
     * otherwise they would run into the next measurement (a raw hash round, an "idle" probe).
     */
    const loginLoad = async (seconds: number) => {
      const run = await measureThroughput({
        url: server.baseUrl,
        path: '/v1/auth/login',
        method: 'POST',
        bodies,
        connections: loginConnections,
        seconds,
        leadSeconds: plan.lead,
      });
      const drainMs = Math.min(
        2000,
        100 + (1000 * loginConnections) / Math.max(run.rate, 1),
      );
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(drainMs, plan.settle * 1000)),
      );
      return run;
    };
    const probe = () =>
      probeLatency({
        url: server.baseUrl,
        path: '/v1/me/profile',
        headers: { authorization: `Bearer ${probeToken}` },
        ratePerSecond: PROBE_RATE,
        seconds: plan.probeSeconds,
      });

    // Windows long enough for a dozen calls and a lead of two, whatever the configured cost.
    const oneHashStarted = performance.now();
    zeroBuffer(
      await derivePasswordMasterKey(
        'correct horse battery staple',
        randomBytes(16),
        params,
        kdfSecrets,
      ),
    );
    const oneHash = (performance.now() - oneHashStarted) / 1000;
    plan = {
      ...defaults,
      seconds: Math.max(defaults.seconds, (12 * oneHash) / cores),
      lead: Math.max(defaults.lead, 2 * oneHash),
    };
    context.progress(
      `login: warm-up, then ${plan.rounds} rounds of raw argon2id vs logins (${plan.seconds.toFixed(1)} s each)`,
    );
    await hashRate(0.2, cores);
    await loginLoad(0.2);
    await probe();
    const loginP99s: number[] = [];
    const hashWidths =
      plan.bothHashWidths && threadpool !== cores
        ? [cores, threadpool]
        : [cores];
    const rates = await interleave<string>(plan.rounds, {
      ...Object.fromEntries(
        hashWidths.map((width) => [
          `argon2id×${width}`,
          () => hashRate(plan.seconds, width),
        ]),
      ),
      login: async () => {
        const run = await loginLoad(plan.seconds);
        loginP99s.push(run.p99);
        return run.rate;
      },
    });
    // The raw rate: the better width.
    const raw = hashWidths
      .map((width) => rates[`argon2id×${width}`])
      .reduce((best, next) => (next.median > best.median ? next : best));
    const kdfRatio = ratio(rates.login, raw);

    context.progress(
      `login: ${plan.rounds} rounds of the profile probe, idle vs during logins (${plan.probeSeconds} s each)`,
    );
    const pooled = { idle: [] as number[], storm: [] as number[] };
    const p50s = { idle: [] as number[], storm: [] as number[] };
    const probeRound = (which: 'idle' | 'storm', latencies: number[]) => {
      pooled[which].push(...latencies);
      p50s[which].push(percentile(latencies, 50));
      return percentile(latencies, 99);
    };
    const p99 = await interleave(plan.rounds, {
      idle: async () => probeRound('idle', await probe()),
      storm: async () => {
        // The load outlasts the probe a little, so that the probe's last answers meet it too.
        const storm = loginLoad(plan.probeSeconds + 0.2);
        await new Promise((resolve) => setTimeout(resolve, plan.lead * 1000));
        const latencies = await probe();
        await storm;
        return probeRound('storm', latencies);
      },
    });
    const stormP99Ratio = ratio(p99.storm, p99.idle);
    const pooledRatio =
      percentile(pooled.storm, 99) / percentile(pooled.idle, 99);

    const median = (values: number[]) => summarize(values).median;
    const rateRow = (label: string, summary: Summary, p99Cell = '') => [
      label,
      ...summaryCells(summary, 1),
      p99Cell,
      ratio(summary, raw).toFixed(3),
    ];
    const report =
      renderTable(
        `Login: per second over the last ${plan.seconds.toFixed(1)} s of ${(plan.lead + plan.seconds).toFixed(1)} s, ${plan.rounds} interleaved rounds; argon2id m=${params.memoryKiB} KiB t=${params.iterations} p=${params.parallelism} (the app's configured cost); ${cores} cores, threadpool ${threadpool}`,
        [
          ['variant', 'median', 'min', 'max', 'p99 ms', '÷ raw'],
          ...hashWidths.map((width) =>
            rateRow(
              `raw argon2id (kdf.ts), ${width} in flight, bench process`,
              rates[`argon2id×${width}`],
            ),
          ),
          rateRow(
            `POST /v1/auth/login, ${accounts.length} accounts in turn, ${loginConnections} connections`,
            rates.login,
            String(median(loginP99s)),
          ),
        ],
      ) +
      renderTable(
        `Login storm: GET /v1/me/profile probed at ${PROBE_RATE} req/s (open loop) for ${plan.probeSeconds} s, idle vs during the login load above; latency ms, ${plan.rounds} interleaved rounds`,
        [
          [
            'probe',
            'p99 median',
            'p99 min',
            'p99 max',
            'p99 of all',
            'p50 median',
          ],
          [
            'idle server',
            ...summaryCells(p99.idle, 2),
            percentile(pooled.idle, 99).toFixed(2),
            median(p50s.idle).toFixed(2),
          ],
          [
            'during logins',
            ...summaryCells(p99.storm, 2),
            percentile(pooled.storm, 99).toFixed(2),
            median(p50s.storm).toFixed(2),
          ],
        ],
      ) +
      `  login.kdfRatio = ${kdfRatio.toFixed(3)} (target ≥ 0.9)   login.stormP99Ratio = ${stormP99Ratio.toFixed(2)} (target ≤ 2; of all samples: ${pooledRatio.toFixed(2)})\n`;

    return {
      metrics: {
        'login.kdfRatio': kdfRatio,
        'login.stormP99Ratio': stormP99Ratio,
      },
      report,
      extra: {
        'login.argon2idPerSec': raw.median,
        'login.loginsPerSec': rates.login.median,
        'login.probeIdleP99Ms': p99.idle.median,
        'login.probeStormP99Ms': p99.storm.median,
      },
    };
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nserver log (end):\n${server.logTail()}`,
      { cause: error },
    );
  }
};
