/**
 * HTTP section (issue 6, docs/benchmarks.md#targets): authenticated `GET /v1/me/profile` (five
 * encrypted PII fields) against the same route over the plaintext twin
 * (`GET /v1/bench-plain/me/profile`, bench-only), with `GET /health/live` as the framework's
 * ceiling. One user, one access token, autocannon on loopback, the same connections and duration
 * for every variant, interleaved.
 */
import { Client } from 'pg';
import { BenchSection } from '../support/bench-context';
import { interleave, ratio, renderTable, summaryCells } from '../support/stats';
import {
  login,
  putProfile,
  realisticProfile,
  register,
} from './support/accounts';
import { sharedBenchServer } from './support/bench-server';
import { measureThroughput } from './support/load';

const CONNECTIONS = 10;

export const runHttpBench: BenchSection = async (context) => {
  const plan = context.quick
    ? { rounds: 5, seconds: 0.3, lead: 0.1, warmup: 0.2 }
    : { rounds: 7, seconds: 3, lead: 0.3, warmup: 2 };
  const { server, databaseUrl } = await sharedBenchServer(context);
  try {
    const account = await register(server.baseUrl, 'http');
    const accessToken = await login(server.baseUrl, account);
    const profile = realisticProfile(7);
    await putProfile(server.baseUrl, accessToken, profile);
    await insertTwinRow(databaseUrl, account.userId, profile);

    const auth = { authorization: `Bearer ${accessToken}` };
    const variant =
      (path: string, headers: Record<string, string> = {}) =>
      (seconds: number) =>
        measureThroughput({
          url: server.baseUrl,
          path,
          headers,
          connections: CONNECTIONS,
          seconds,
          leadSeconds: plan.lead,
        });
    const runs = {
      encrypted: variant('/v1/me/profile', auth),
      plaintextTwin: variant('/v1/bench-plain/me/profile', auth),
      healthLive: variant('/health/live'),
    };
    // The twin must answer exactly what the encrypted route answers.
    const [encryptedBody, twinBody] = await Promise.all(
      ['/v1/me/profile', '/v1/bench-plain/me/profile'].map(async (path) =>
        (await fetch(`${server.baseUrl}${path}`, { headers: auth })).text(),
      ),
    );
    if (encryptedBody !== twinBody)
      throw new Error(
        `the twin answers differently:\n${encryptedBody}\n${twinBody}`,
      );

    context.progress(
      `http: warm-up, then ${plan.rounds} rounds × 3 variants × ${plan.seconds} s, ${CONNECTIONS} connections`,
    );
    for (const run of Object.values(runs)) await run(plan.warmup);
    const p99s: Record<string, number[]> = {
      encrypted: [],
      plaintextTwin: [],
      healthLive: [],
    };
    const results = await interleave(plan.rounds, {
      encrypted: async () =>
        record(p99s.encrypted, await runs.encrypted(plan.seconds)),
      plaintextTwin: async () =>
        record(p99s.plaintextTwin, await runs.plaintextTwin(plan.seconds)),
      healthLive: async () =>
        record(p99s.healthLive, await runs.healthLive(plan.seconds)),
    });

    const profileRatio = ratio(results.encrypted, results.plaintextTwin);
    const ceilingRatio = ratio(results.encrypted, results.healthLive);
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const report =
      renderTable(
        `HTTP: req/s over ${plan.rounds} interleaved rounds of ${plan.seconds} s, ${CONNECTIONS} connections (autocannon, loopback; server: compiled app, NODE_ENV=production, own process)`,
        [
          ['variant', 'median', 'min', 'max', 'p99 ms', '÷ twin'],
          [
            'GET /v1/me/profile (5 encrypted fields)',
            ...summaryCells(results.encrypted),
            String(median(p99s.encrypted)),
            profileRatio.toFixed(3),
          ],
          [
            'GET /v1/bench-plain/me/profile (twin)',
            ...summaryCells(results.plaintextTwin),
            String(median(p99s.plaintextTwin)),
            '1.000',
          ],
          [
            'GET /health/live (ceiling)',
            ...summaryCells(results.healthLive),
            String(median(p99s.healthLive)),
            ratio(results.healthLive, results.plaintextTwin).toFixed(3),
          ],
        ],
      ) +
      `  http.profile.ratio = ${profileRatio.toFixed(3)} (target ≥ 0.9)   http.profile.ceilingRatio = ${ceilingRatio.toFixed(3)}\n`;

    return {
      metrics: {
        'http.profile.ratio': profileRatio,
        'http.profile.ceilingRatio': ceilingRatio,
      },
      report,
      extra: {
        'http.profile.encryptedReqPerSec': results.encrypted.median,
        'http.profile.twinReqPerSec': results.plaintextTwin.median,
        'http.healthLive.reqPerSec': results.healthLive.median,
      },
    };
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nserver log (end):\n${server.logTail()}`,
      { cause: error },
    );
  }
};

function record(p99s: number[], run: { rate: number; p99: number }): number {
  p99s.push(run.p99);
  return run.rate;
}

/** The twin's row holds the same values, in plain text. */
async function insertTwinRow(
  databaseUrl: string,
  userId: string,
  profile: ReturnType<typeof realisticProfile>,
): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      'INSERT INTO bench_plain_profiles (user_id, full_name, date_of_birth, phone, address, national_id) VALUES ($1, $2, $3, $4, $5, $6)',
      [
        userId,
        profile.fullName,
        profile.dateOfBirth,
        profile.phone,
        profile.address,
        profile.nationalId,
      ],
    );
  } finally {
    await client.end();
  }
}
