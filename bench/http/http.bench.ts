/**
 * HTTP section (issue 6, docs/benchmarks.md#targets): authenticated `GET /v1/me/profile` (five
 * encrypted PII fields) against the same route over the plaintext twin
 * (`GET /v1/bench-plain/me/profile`, bench-only), with `GET /health/live` as the framework's
 * ceiling. And (issue 19) the same profile request by an access key (`vpk_…`, scope `profile:read`)
 * against it by the password session, with the session's request also run as a second, identical
 * variant: that A/A pair's ratio is the noise the access key's ratio is judged against. One user,
 * one access token, one access key, autocannon on loopback, the same connections and duration for
 * every variant, interleaved.
 */
import { Client } from 'pg';
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
  createAccessKey,
  login,
  putProfile,
  realisticProfile,
  register,
} from './support/accounts';
import { sharedBenchServer } from './support/bench-server';
import { measureThroughput, ThroughputRun } from './support/load';

const CONNECTIONS = 10;
/** The load requirement: 100 requests by access key answer like the same by session. */
const MIN_REQUESTS_PER_SIDE = 100;

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
    const accessKey = await createAccessKey(
      server.baseUrl,
      accessToken,
      account,
      ['profile:read'],
    );

    const auth = { authorization: `Bearer ${accessToken}` };
    const keyAuth = { authorization: `Bearer ${accessKey}` };
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
      // The very request of `encrypted` (same session, same headers) as a variant of its own:
      // its ratio to `encrypted` is what two identical variants differ by in this run, the
      // noise that the access key's ratio is read against.
      sessionAgain: variant('/v1/me/profile', auth),
      accessKey: variant('/v1/me/profile', keyAuth),
    };
    type Variant = keyof typeof runs;
    const variants = Object.keys(runs) as Variant[];
    // The twin, and the access key, must answer exactly what the session's request answers.
    const [encryptedBody, twinBody, accessKeyBody] = await Promise.all(
      (
        [
          ['/v1/me/profile', auth],
          ['/v1/bench-plain/me/profile', auth],
          ['/v1/me/profile', keyAuth],
        ] as const
      ).map(async ([path, headers]) =>
        (await fetch(`${server.baseUrl}${path}`, { headers })).text(),
      ),
    );
    if (encryptedBody !== twinBody)
      throw new Error(
        `the twin answers differently:\n${encryptedBody}\n${twinBody}`,
      );
    if (encryptedBody !== accessKeyBody)
      throw new Error(
        `the access key answers differently:\n${encryptedBody}\n${accessKeyBody}`,
      );

    context.progress(
      `http: warm-up, then ${plan.rounds} rounds × ${variants.length} variants × ${plan.seconds} s, ${CONNECTIONS} connections`,
    );
    for (const run of Object.values(runs)) await run(plan.warmup);
    const measured = Object.fromEntries(
      variants.map((name) => [name, [] as ThroughputRun[]]),
    ) as Record<Variant, ThroughputRun[]>;
    const results = await interleave(
      plan.rounds,
      Object.fromEntries(
        variants.map((name) => [
          name,
          async () => {
            const run = await runs[name](plan.seconds);
            measured[name].push(run);
            return run.rate;
          },
        ]),
      ) as Record<Variant, () => Promise<number>>,
    );

    const profileRatio = ratio(results.encrypted, results.plaintextTwin);
    const ceilingRatio = ratio(results.encrypted, results.healthLive);
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const p99s = Object.fromEntries(
      variants.map((name) => [name, measured[name].map((run) => run.p99)]),
    ) as Record<Variant, number[]>;
    const accessKeyComparison = compareWithSession(results, measured);
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
      `  http.profile.ratio = ${profileRatio.toFixed(3)} (target ≥ 0.9)   http.profile.ceilingRatio = ${ceilingRatio.toFixed(3)}\n` +
      accessKeyComparison.report(plan);

    return {
      metrics: {
        'http.profile.ratio': profileRatio,
        'http.profile.ceilingRatio': ceilingRatio,
        'http.accessKey.ratio': accessKeyComparison.ratio,
        'http.accessKey.aaRatio': accessKeyComparison.aaRatio,
      },
      report,
      extra: {
        'http.profile.encryptedReqPerSec': results.encrypted.median,
        'http.profile.twinReqPerSec': results.plaintextTwin.median,
        'http.healthLive.reqPerSec': results.healthLive.median,
        ...accessKeyComparison.extra,
      },
    };
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nserver log (end):\n${server.logTail()}`,
      { cause: error },
    );
  }
};

interface SessionComparisonRuns {
  /** The password session's `GET /v1/me/profile`. */
  encrypted: ThroughputRun[];
  /** The same request again: the A/A variant. */
  sessionAgain: ThroughputRun[];
  /** The same request by the access key. */
  accessKey: ThroughputRun[];
}

/**
 * The access key against the session (issue 19): the ratio of medians (req/s, like every ratio of
 * the bench) and, as its noise, the A/A ratio of two identical session variants of the same
 * rounds. The per-round A/A ratios (each round's session-again ÷ session) bound how far two
 * identical variants drift apart in this run: the access key's ratio "within the noise" means
 * inside that band.
 */
function compareWithSession(
  results: Record<keyof SessionComparisonRuns, Summary>,
  measured: SessionComparisonRuns,
) {
  const accessKeyRatio = ratio(results.accessKey, results.encrypted);
  const aaRatio = ratio(results.sessionAgain, results.encrypted);
  const perRound = (variant: Summary) =>
    variant.samples.map(
      (rate, round) => rate / results.encrypted.samples[round],
    );
  const aaRounds = perRound(results.sessionAgain);
  const accessKeyRounds = perRound(results.accessKey);
  const aaBand = { min: Math.min(...aaRounds), max: Math.max(...aaRounds) };
  const withinNoise =
    accessKeyRatio >= aaBand.min && accessKeyRatio <= aaBand.max;
  const counted = (runs: ThroughputRun[]) =>
    runs.reduce((sum, run) => sum + run.completed, 0);
  const requestsPerSide = Math.min(
    counted(measured.encrypted),
    counted(measured.accessKey),
  );
  const p99 = (runs: ThroughputRun[]) =>
    summarize(runs.map((run) => run.p99)).median;
  const row = (
    label: string,
    variant: keyof SessionComparisonRuns,
    toSession: string,
    perRoundRange: string,
  ) => [
    label,
    ...summaryCells(results[variant]),
    String(p99(measured[variant])),
    String(counted(measured[variant])),
    toSession,
    perRoundRange,
  ];
  const range = (values: number[]) =>
    `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`;

  return {
    ratio: accessKeyRatio,
    aaRatio,
    extra: {
      'http.accessKey.reqPerSec': results.accessKey.median,
      'http.accessKey.p99Ratio':
        p99(measured.accessKey) / p99(measured.encrypted),
      'http.accessKey.aaRoundMin': aaBand.min,
      'http.accessKey.aaRoundMax': aaBand.max,
      'http.accessKey.requestsPerSide': requestsPerSide,
    },
    report(plan: { rounds: number }): string {
      return (
        renderTable(
          `Access key vs password session: GET /v1/me/profile, req/s in the same ${plan.rounds} interleaved rounds (scope profile:read; ACCESS_KEY_RATE_LIMIT raised)`,
          [
            [
              'variant',
              'median',
              'min',
              'max',
              'p99 ms',
              'requests',
              '÷ session',
              'per round',
            ],
            row('by password session', 'encrypted', '1.000', ''),
            row(
              'by password session again (A/A)',
              'sessionAgain',
              aaRatio.toFixed(3),
              range(aaRounds),
            ),
            row(
              'by access key',
              'accessKey',
              accessKeyRatio.toFixed(3),
              range(accessKeyRounds),
            ),
          ],
        ) +
        `  http.accessKey.ratio = ${accessKeyRatio.toFixed(3)}   http.accessKey.aaRatio = ${aaRatio.toFixed(3)} (A/A per round ${range(aaRounds)}): ` +
        (withinNoise
          ? 'within the A/A noise'
          : `outside the A/A noise (the key ${accessKeyRatio > aaBand.max ? 'faster' : 'slower'})`) +
        (requestsPerSide < MIN_REQUESTS_PER_SIDE
          ? `; only ${requestsPerSide} requests on a side, fewer than the ${MIN_REQUESTS_PER_SIDE} the comparison asks for`
          : '') +
        '\n'
      );
    },
  };
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
