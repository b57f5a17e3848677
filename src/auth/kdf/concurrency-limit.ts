export interface ConcurrencyLimitOptions {
  /** Calls that may wait for a slot; the next one is refused at once. Default: no bound. */
  maxQueued?: number;
  /** How long a call may wait for a slot; then it leaves the queue, refused. Default: no bound. */
  maxWaitMs?: number;
}

/** Why `ConcurrencyLimit.run` refused a call: it never ran, and never will. */
export type ConcurrencyRefusal = 'queue_full' | 'wait_timeout';

export class ConcurrencyLimitRefusedError extends Error {
  constructor(readonly reason: ConcurrencyRefusal) {
    super(
      reason === 'queue_full'
        ? 'no free slot and the queue is full'
        : 'waited too long for a slot',
    );
    this.name = 'ConcurrencyLimitRefusedError';
  }
}

interface Waiter {
  start(): void;
  timer?: NodeJS.Timeout;
}

/**
 * At most `limit` calls of `run` in flight; the others wait their turn, first come first served —
 * at most `maxQueued` of them, each at most `maxWaitMs`. A call refused either way rejects with
 * `ConcurrencyLimitRefusedError` and its task is never run.
 */
export class ConcurrencyLimit {
  private running = 0;
  // Insertion-ordered, and a waiter that times out leaves from the middle in O(1).
  private readonly waiting = new Set<Waiter>();
  private readonly maxQueued: number;
  private readonly maxWaitMs: number;

  constructor(
    readonly limit: number,
    options: ConcurrencyLimitOptions = {},
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(
        `ConcurrencyLimit: limit must be a whole number ≥ 1 (got ${limit})`,
      );
    this.maxQueued = options.maxQueued ?? Infinity;
    this.maxWaitMs = options.maxWaitMs ?? Infinity;
    if (!(this.maxQueued >= 0))
      throw new RangeError(
        `ConcurrencyLimit: maxQueued must be ≥ 0 (got ${this.maxQueued})`,
      );
    if (!(this.maxWaitMs > 0))
      throw new RangeError(
        `ConcurrencyLimit: maxWaitMs must be > 0 (got ${this.maxWaitMs})`,
      );
  }

  /** Calls in flight now. */
  get active(): number {
    return this.running;
  }

  /** Calls waiting for a turn now. */
  get queued(): number {
    return this.waiting.size;
  }

  /** @throws ConcurrencyLimitRefusedError when the queue is full or the wait too long. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await this.slot();
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter (`running` unchanged), or is freed.
      const next = this.waiting.values().next();
      if (next.done) this.running--;
      else {
        this.waiting.delete(next.value);
        next.value.start();
      }
    }
  }

  private slot(): Promise<void> {
    if (this.waiting.size >= this.maxQueued)
      return Promise.reject(new ConcurrencyLimitRefusedError('queue_full'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start() {
          clearTimeout(waiter.timer);
          resolve();
        },
      };
      if (Number.isFinite(this.maxWaitMs)) {
        waiter.timer = setTimeout(() => {
          // Gone already: it was handed a slot in this same turn of the event loop.
          if (!this.waiting.delete(waiter)) return;
          reject(new ConcurrencyLimitRefusedError('wait_timeout'));
        }, this.maxWaitMs);
      }
      this.waiting.add(waiter);
    });
  }
}
