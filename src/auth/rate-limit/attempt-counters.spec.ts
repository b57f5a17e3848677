import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { FakeClock } from '@vault-pii/nest-encryption/testing';
import { redactUrlPassword } from '@vault-pii/nest-encryption/redis';
import { probeRedisSync } from '@vault-pii/nest-encryption/testing';
import {
  AttemptCounter,
  MemoryAttemptCounter,
  RedisAttemptCounter,
} from './attempt-counters';

describe('MemoryAttemptCounter', () => {
  let clock: FakeClock;
  let counter: MemoryAttemptCounter;

  beforeEach(() => {
    clock = new FakeClock();
    counter = new MemoryAttemptCounter({ clock: clock.now, maxKeys: 3 });
  });

  it('counts within a fixed window that the first increment opens', async () => {
    expect(await counter.increment('a', 1000)).toEqual({
      count: 1,
      msUntilReset: 1000,
    });
    clock.advance(400);
    expect(await counter.increment('a', 1000)).toEqual({
      count: 2,
      msUntilReset: 600,
    });
    clock.advance(600);
    expect(await counter.increment('a', 1000)).toEqual({
      count: 1,
      msUntilReset: 1000,
    });
  });

  it('decrements only an open, positive count', async () => {
    await counter.decrement('missing');
    await counter.increment('a', 1000);
    await counter.decrement('a');
    await counter.decrement('a');
    expect((await counter.increment('a', 1000)).count).toBe(1);
    clock.advance(1000);
    await counter.decrement('a');
    expect((await counter.increment('a', 1000)).count).toBe(1);
  });

  it('stays within maxKeys: drops expired windows first, then the oldest', async () => {
    await counter.increment('old', 100);
    await counter.increment('b', 10_000);
    await counter.increment('c', 10_000);
    clock.advance(100);
    await counter.increment('d', 10_000); // 'old' has expired: it goes
    expect(counter.size).toBe(3);
    expect((await counter.increment('b', 10_000)).count).toBe(2);
    await counter.increment('e', 10_000); // full of live windows: the oldest ('b') goes
    expect(counter.size).toBe(3);
    expect((await counter.increment('c', 10_000)).count).toBe(2);
    expect((await counter.increment('b', 10_000)).count).toBe(1);
  });
});

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = probeRedisSync(REDIS_URL);
if (!redis.reachable) {
  console.warn(
    `RedisAttemptCounter tests skipped: no Redis at ${redactUrlPassword(REDIS_URL)} (${redis.reason})`,
  );
}

(redis.reachable ? describe : describe.skip)(
  `RedisAttemptCounter (real Redis at ${redactUrlPassword(REDIS_URL)})`,
  () => {
    let prefix: string;
    let client: Redis;
    let admin: Redis;
    let counter: AttemptCounter;

    beforeEach(() => {
      prefix = `spec-attempts-${randomUUID()}:`;
      client = new Redis(REDIS_URL, { keyPrefix: prefix });
      admin = new Redis(REDIS_URL);
      counter = new RedisAttemptCounter(client);
    });
    afterEach(async () => {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length) await admin.del(...keys);
      client.disconnect();
      admin.disconnect();
    });

    it('counts within a window whose expiry Redis keeps, under the connection prefix', async () => {
      expect(await counter.increment('a', 60_000)).toEqual({
        count: 1,
        msUntilReset: 60_000,
      });
      const second = await counter.increment('a', 60_000);
      expect(second.count).toBe(2);
      expect(second.msUntilReset).toBeGreaterThan(59_000);
      expect(second.msUntilReset).toBeLessThanOrEqual(60_000);
      expect(await admin.keys(`${prefix}*`)).toEqual([`${prefix}a`]);
      expect(await admin.pttl(`${prefix}a`)).toBeGreaterThan(59_000);
    });

    it('starts again once the window has passed', async () => {
      await counter.increment('a', 150);
      await counter.increment('a', 150);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await counter.increment('a', 150)).count).toBe(1);
    });

    it('decrements only an existing, positive count, and never creates a key without expiry', async () => {
      await counter.decrement('missing');
      expect(await admin.exists(`${prefix}missing`)).toBe(0);
      await counter.increment('a', 60_000);
      await counter.decrement('a');
      await counter.decrement('a');
      expect(await admin.get(`${prefix}a`)).toBe('0');
      expect(await admin.pttl(`${prefix}a`)).toBeGreaterThan(0);
    });

    it('loses no count when many increments race', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, () => counter.increment('a', 60_000)),
      );
      expect(results.map((r) => r.count).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    });
  },
);
