import {
  ConcurrencyLimit,
  ConcurrencyLimitRefusedError,
} from './concurrency-limit';

describe('ConcurrencyLimit', () => {
  function deferred<T>() {
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<T>(
      (res, rej) => ((resolve = res), (reject = rej)),
    );
    return { promise, resolve, reject };
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('runs at most `limit` tasks at once and starts the others in arrival order', async () => {
    const limit = new ConcurrencyLimit(2);
    const tasks = Array.from({ length: 5 }, () => deferred<number>());
    const started: number[] = [];
    const results = tasks.map((task, i) =>
      limit.run(() => {
        started.push(i);
        return task.promise;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect([limit.active, limit.queued]).toEqual([2, 3]);

    tasks[1].resolve(1);
    await tick();
    expect(started).toEqual([0, 1, 2]);
    tasks[0].resolve(0);
    tasks[2].resolve(2);
    await tick();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    tasks[3].resolve(3);
    tasks[4].resolve(4);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4]);
    expect([limit.active, limit.queued]).toEqual([0, 0]);
  });

  it('frees the slot of a task that fails, and passes its error on', async () => {
    const limit = new ConcurrencyLimit(1);
    const failing = limit.run(() => Promise.reject(new Error('boom')));
    const next = limit.run(() => Promise.resolve('next'));
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
    expect(limit.active).toBe(0);
  });

  it('refuses a limit below one, a negative queue bound and a wait of zero', () => {
    expect(() => new ConcurrencyLimit(0)).toThrow(RangeError);
    expect(() => new ConcurrencyLimit(1.5)).toThrow(RangeError);
    expect(() => new ConcurrencyLimit(1, { maxQueued: -1 })).toThrow(
      RangeError,
    );
    expect(() => new ConcurrencyLimit(1, { maxWaitMs: 0 })).toThrow(RangeError);
  });

  const refusedFor = (reason: string) =>
    expect.objectContaining({
      name: 'ConcurrencyLimitRefusedError',
      reason,
    }) as unknown;

  describe('bounded queue', () => {
    afterEach(() => jest.useRealTimers());

    it('refuses a call at once when `maxQueued` calls already wait, and never runs it', async () => {
      const limit = new ConcurrencyLimit(1, { maxQueued: 2 });
      const first = deferred<string>();
      const ran: string[] = [];
      const results = ['a', 'b', 'c', 'd'].map((name, i) =>
        limit.run(() => {
          ran.push(name);
          return i === 0 ? first.promise : Promise.resolve(name);
        }),
      );
      const refused = results[3];
      await expect(refused).rejects.toBeInstanceOf(
        ConcurrencyLimitRefusedError,
      );
      await expect(refused).rejects.toEqual(refusedFor('queue_full'));
      expect([limit.active, limit.queued]).toEqual([1, 2]);

      first.resolve('a');
      expect(await Promise.all(results.slice(0, 3))).toEqual(['a', 'b', 'c']);
      expect(ran).toEqual(['a', 'b', 'c']);
      expect([limit.active, limit.queued]).toEqual([0, 0]);
    });

    it('with `maxQueued: 0`, refuses every call beyond the running ones', async () => {
      const limit = new ConcurrencyLimit(2, { maxQueued: 0 });
      const running = [deferred<void>(), deferred<void>()];
      const calls = running.map((task) => limit.run(() => task.promise));
      await expect(limit.run(() => Promise.resolve())).rejects.toEqual(
        refusedFor('queue_full'),
      );
      running.forEach((task) => task.resolve());
      await Promise.all(calls);
      await expect(limit.run(() => Promise.resolve('free'))).resolves.toBe(
        'free',
      );
    });

    it('takes a call that waited `maxWaitMs` out of the queue, refused; it never runs later', async () => {
      jest.useFakeTimers();
      const limit = new ConcurrencyLimit(1, { maxWaitMs: 1000 });
      const first = deferred<string>();
      const late = jest.fn(() => Promise.resolve('late'));
      const firstRun = limit.run(() => first.promise);
      const waiting = limit.run(late);
      const outcome = waiting.catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(999);
      expect(limit.queued).toBe(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(await outcome).toEqual(refusedFor('wait_timeout'));
      expect(limit.queued).toBe(0);

      // The slot is freed, not handed to the call that left.
      first.resolve('first');
      await expect(firstRun).resolves.toBe('first');
      await jest.advanceTimersByTimeAsync(10_000);
      expect(late).not.toHaveBeenCalled();
      expect([limit.active, limit.queued]).toEqual([0, 0]);
    });

    it('keeps the order of the waiters that stay when one in the middle times out', async () => {
      jest.useFakeTimers();
      const limit = new ConcurrencyLimit(1, { maxWaitMs: 1000 });
      const started: string[] = [];
      const first = deferred<void>();
      const calls: Promise<unknown>[] = [
        limit.run(() => {
          started.push('first');
          return first.promise;
        }),
      ];
      const enqueue = (name: string) =>
        calls.push(
          limit
            .run(() => {
              started.push(name);
              return Promise.resolve();
            })
            .catch((error: ConcurrencyLimitRefusedError) => error.reason),
        );
      enqueue('a');
      await jest.advanceTimersByTimeAsync(500);
      enqueue('b');
      enqueue('c');
      // `a` has waited its 1000 ms; `b` and `c` only 500.
      await jest.advanceTimersByTimeAsync(500);
      expect(limit.queued).toBe(2);
      first.resolve();
      expect(await Promise.all(calls)).toEqual([
        undefined,
        'wait_timeout',
        undefined,
        undefined,
      ]);
      expect(started).toEqual(['first', 'b', 'c']);
    });

    it('clears the timer of a waiter that got its slot: it is not refused afterwards', async () => {
      jest.useFakeTimers();
      const limit = new ConcurrencyLimit(1, { maxWaitMs: 1000 });
      const first = deferred<void>();
      const second = deferred<string>();
      void limit.run(() => first.promise);
      const waiting = limit.run(() => second.promise);
      await jest.advanceTimersByTimeAsync(100);
      first.resolve();
      await jest.advanceTimersByTimeAsync(5000);
      second.resolve('done');
      await expect(waiting).resolves.toBe('done');
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
