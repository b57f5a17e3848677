import type Redis from 'ioredis';

export interface AttemptCount {
  /** Attempts counted in the current window, this one included. */
  count: number;
  /** Until the window ends and the count starts again from zero. */
  msUntilReset: number;
}

/**
 * Fixed-window counters under opaque keys (callers pass an HMAC, never an email or address).
 * A window opens with the first increment of a key and lasts `windowMs`; later increments do
 * not extend it, so a lock ends when the window it was earned in ends.
 */
export interface AttemptCounter {
  increment(key: string, windowMs: number): Promise<AttemptCount>;
  /** Takes back one count if the key's window is still open (never goes below zero). */
  decrement(key: string): Promise<void>;
}

/** KEYS: counter. ARGV: window ms. → { count, ms until reset } */
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
`;

/** KEYS: counter. Only an existing, positive count is decremented: DECR would create a key without expiry. */
const DECREMENT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
`;

interface AttemptCommands {
  attemptIncrement(key: string, windowMs: number): Promise<[number, number]>;
  attemptDecrement(key: string): Promise<number>;
}

/**
 * Counters in Redis, shared by every app instance. Each operation is one script, so two
 * instances counting the same key at once cannot lose a count or a window's expiry.
 */
export class RedisAttemptCounter implements AttemptCounter {
  private readonly client: Redis & AttemptCommands;

  /** @param client a connection whose `keyPrefix` namespaces these keys. */
  constructor(client: Redis) {
    this.client = client as Redis & AttemptCommands;
    this.client.defineCommand('attemptIncrement', {
      numberOfKeys: 1,
      lua: INCREMENT,
    });
    this.client.defineCommand('attemptDecrement', {
      numberOfKeys: 1,
      lua: DECREMENT,
    });
  }

  async increment(key: string, windowMs: number): Promise<AttemptCount> {
    const [count, msUntilReset] = await this.client.attemptIncrement(
      key,
      windowMs,
    );
    return { count, msUntilReset };
  }

  async decrement(key: string): Promise<void> {
    await this.client.attemptDecrement(key);
  }
}

export interface MemoryAttemptCounterOptions {
  /**
   * Bound on keys held. When full, expired windows are dropped first, then the oldest ones: an
   * attacker must spend that many requests (each limited per address) to push a count out.
   */
  maxKeys?: number;
  /** Current time in ms; injectable for tests. */
  clock?: () => number;
}

interface Window {
  count: number;
  resetsAt: number;
}

/** Counters in process memory: one app instance (no `REDIS_URL`). */
export class MemoryAttemptCounter implements AttemptCounter {
  private readonly windows = new Map<string, Window>();
  private readonly maxKeys: number;
  private readonly clock: () => number;

  constructor(options: MemoryAttemptCounterOptions = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.windows.size;
  }

  increment(key: string, windowMs: number): Promise<AttemptCount> {
    const now = this.clock();
    let window = this.windows.get(key);
    if (!window || window.resetsAt <= now) {
      this.windows.delete(key);
      this.makeRoom(now);
      window = { count: 0, resetsAt: now + windowMs };
      // Insertion order is age order: the first key of the map is the oldest window.
      this.windows.set(key, window);
    }
    window.count += 1;
    return Promise.resolve({
      count: window.count,
      msUntilReset: window.resetsAt - now,
    });
  }

  decrement(key: string): Promise<void> {
    const window = this.windows.get(key);
    if (window && window.resetsAt > this.clock() && window.count > 0)
      window.count -= 1;
    return Promise.resolve();
  }

  private makeRoom(now: number): void {
    if (this.windows.size < this.maxKeys) return;
    for (const [key, window] of this.windows) {
      if (window.resetsAt <= now) this.windows.delete(key);
    }
    while (this.windows.size >= this.maxKeys) {
      const oldest = this.windows.keys().next().value as string;
      this.windows.delete(oldest);
    }
  }
}
