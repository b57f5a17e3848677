import { execFileSync } from 'node:child_process';
import { redactUrlPassword } from '../internal/redact-url-password';

export { redactUrlPassword };

export type RedisProbe =
  { reachable: true } | { reachable: false; reason: string };

/**
 * Whether a Redis answers PING at `url`, decided synchronously (in a child process) so that a
 * spec can choose between `describe` and `describe.skip` while Jest collects tests.
 */
export function probeRedisSync(url: string, timeoutMs = 1500): RedisProbe {
  const script = `
    const Redis = require('ioredis');
    const client = new Redis(process.argv[1], { lazyConnect: true, connectTimeout: ${timeoutMs}, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let firstError;
    client.on('error', (error) => { firstError = firstError || error; });
    client.connect().then(() => client.ping()).then(
      () => { process.stdout.write('ok'); client.disconnect(); },
      (error) => { const cause = firstError || error; process.stdout.write(String(cause.code || cause.message)); client.disconnect(); },
    );`;
  try {
    const answer = execFileSync(process.execPath, ['-e', script, url], {
      cwd: __dirname,
      timeout: timeoutMs + 3000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return answer === 'ok'
      ? { reachable: true }
      : { reachable: false, reason: answer || 'no answer' };
  } catch (error) {
    return {
      reachable: false,
      reason: (error as { code?: string }).code ?? 'probe failed',
    };
  }
}

/**
 * Why tests that need the Redis at `url` (usually `REDIS_URL`) must be skipped, or `undefined`
 * when it answers: unset, or not reachable (the reason names the address, never its password).
 */
export function redisSkipReason(url: string | undefined): string | undefined {
  if (!url) return 'REDIS_URL is not set';
  const probe = probeRedisSync(url);
  return probe.reachable
    ? undefined
    : `no Redis at ${redactUrlPassword(url)} (${probe.reason})`;
}
