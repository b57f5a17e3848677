/**
 * Load generation for the HTTP sections: closed-loop throughput with autocannon, and an
 * open-loop latency probe (a fixed request rate, timed with hrtime per request) for p99s that
 * measure latency rather than saturation.
 */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';

export interface ThroughputRun {
  /** Successful (2xx) responses per second within the measured window. */
  rate: number;
  /** Successful responses within the measured window. */
  completed: number;
  /** The measured window, s. */
  seconds: number;
  /** autocannon's latency percentiles over the whole run, ms (whole milliseconds). */
  p50: number;
  p99: number;
}

export interface ThroughputOptions {
  url: string;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Request bodies, sent in turn (one per request). */
  bodies?: string[];
  connections: number;
  /** The measured window, s. */
  seconds: number;
  /**
   * Load before the window opens, s, so the window sees the steady state: slow requests (a
   * login waits on argon2id) would otherwise lose their first round trip to the count.
   */
  leadSeconds?: number;
}

/**
 * autocannon for `leadSeconds + seconds`, counting the 2xx answers of the last `seconds`. Any
 * non-2xx answer or socket error fails the bench (a bench of 401s measures nothing).
 */
export async function measureThroughput(
  options: ThroughputOptions,
): Promise<ThroughputRun> {
  const bodies = options.bodies;
  const leadSeconds = options.leadSeconds ?? 0;
  let next = 0;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let completed = 0;
  let instance!: autocannon.Instance;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    const request: autocannon.Request = {
      method: options.method ?? 'GET',
      path: options.path,
      headers: {
        ...(bodies ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(bodies
        ? {
            setupRequest: (req: autocannon.Request) => ({
              ...req,
              body: bodies[next++ % bodies.length],
            }),
          }
        : {}),
    };
    const settings: autocannon.Options = {
      url: options.url,
      connections: options.connections,
      duration: leadSeconds + options.seconds,
      // autocannon checks for the end of `duration` once per sample: every second by default,
      // so a 0.5 s run lasted 1 s.
      sampleInt: 100,
      requests: [request],
    };
    instance = autocannon(
      settings,
      (error: Error | null, result: autocannon.Result) =>
        error ? reject(error) : resolve(result),
    );
  });
  instance.once('start', () => {
    windowStart = performance.now() + leadSeconds * 1000;
    windowEnd = windowStart + options.seconds * 1000;
  });
  instance.on('response', (_client, statusCode) => {
    const now = performance.now();
    if (
      statusCode >= 200 &&
      statusCode < 300 &&
      now >= windowStart &&
      now < windowEnd
    )
      completed++;
  });
  const result = await finished;
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) {
    throw new Error(
      `${options.method ?? 'GET'} ${options.path}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts ` +
        `of ${result.requests.total} (status codes: ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  return {
    rate: completed / options.seconds,
    completed,
    seconds: options.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

export interface ProbeOptions {
  url: string;
  path: string;
  headers?: Record<string, string>;
  /** Requests started per second, whatever the answers' latency (open loop). */
  ratePerSecond: number;
  seconds: number;
}

/**
 * Starts a request every 1/rate seconds on kept-alive connections and resolves each one's
 * latency in milliseconds (hrtime, sub-millisecond). Open loop: a slow answer does not delay
 * the next request, so a stall shows in the latencies instead of hiding as a lower rate.
 */
export async function probeLatency(options: ProbeOptions): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL(options.path, options.url);
  const total = Math.max(
    1,
    Math.round(options.ratePerSecond * options.seconds),
  );
  const intervalNs = 1e9 / options.ratePerSecond;
  const start = process.hrtime.bigint();
  const pending: Promise<number>[] = [];
  try {
    for (let i = 0; i < total; i++) {
      const due = start + BigInt(Math.round(i * intervalNs));
      const waitMs = Number(due - process.hrtime.bigint()) / 1e6;
      if (waitMs > 0)
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      pending.push(timedGet(agent, target, options.headers ?? {}));
    }
    return await Promise.all(pending);
  } finally {
    agent.destroy();
  }
}

function timedGet(
  agent: Agent,
  target: URL,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(target, { agent, headers }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode !== 200)
          reject(new Error(`probe ${target.pathname}: ${response.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `p`-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(
      sorted.length - 1,
      Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
    )
  ];
}
