import { randomBytes } from 'node:crypto';

/**
 * The vault stores an e2e file can run against: always the in-memory one, and Redis when
 * REDIS_URL is set, on a database index of the file's own and a unique key prefix (honoured
 * where the app supports REDIS_KEY_PREFIX), so scans and clean-ups touch nothing else.
 */
export function vaultStoreCases(
  redisDb: number,
): [name: 'memory' | 'redis', env: Record<string, string> | undefined][] {
  if (!process.env.REDIS_URL)
    return [
      ['memory', {}],
      ['redis', undefined],
    ];
  const url = new URL(process.env.REDIS_URL);
  url.pathname = `/${redisDb}`;
  const prefix = `e2e-${randomBytes(4).toString('hex')}:`;
  return [
    ['memory', {}],
    ['redis', { REDIS_URL: url.toString(), REDIS_KEY_PREFIX: prefix }],
  ];
}

/** Deletes the keys a run wrote under its own prefix (vault entries, rate-limit counters). */
export async function deleteRunKeys(
  env: Record<string, string> | undefined,
): Promise<void> {
  if (!env?.REDIS_URL || !env.REDIS_KEY_PREFIX) return;
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(env.REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${env.REDIS_KEY_PREFIX}*`,
        'COUNT',
        500,
      );
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
