import { readdirSync, readFileSync } from 'node:fs';
import {
  kdfConcurrency,
  lowerThreadpoolPriority,
  threadpoolSize,
} from './threadpool-priority';

describe('threadpoolSize', () => {
  it('reads UV_THREADPOOL_SIZE as libuv does, 4 by default', () => {
    expect(threadpoolSize({})).toBe(4);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '8' })).toBe(8);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: 'lots' })).toBe(4);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '0' })).toBe(4);
    expect(threadpoolSize({ UV_THREADPOOL_SIZE: '5000' })).toBe(1024);
  });
});

describe('kdfConcurrency', () => {
  it('is one call per core, leaving at least one threadpool thread free, and never below one', () => {
    expect(kdfConcurrency(4, 2)).toBe(2);
    expect(kdfConcurrency(4, 16)).toBe(3);
    expect(kdfConcurrency(16, 8)).toBe(8);
    expect(kdfConcurrency(1, 8)).toBe(1);
    expect(kdfConcurrency(2, 1)).toBe(1);
  });
});

describe('lowerThreadpoolPriority', () => {
  const niceness = (tid: string) =>
    Number(
      readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
        .split(') ')[1]
        .split(' ')[16],
    );

  (process.platform === 'linux' ? it : it.skip)(
    'renices exactly the threadpool threads, or nothing',
    async () => {
      const before = Object.fromEntries(
        readdirSync('/proc/self/task').map((tid) => [tid, niceness(tid)]),
      );
      const outcome = await lowerThreadpoolPriority(5);
      const after = Object.fromEntries(
        readdirSync('/proc/self/task').map((tid) => [tid, niceness(tid)]),
      );
      // The main thread keeps its priority either way.
      expect(after[String(process.pid)]).toBe(
        before[String(process.pid)] ?? after[String(process.pid)],
      );
      const changed = Object.keys(after).filter(
        (tid) => after[tid] === 5 && before[tid] !== 5,
      );
      if ('lowered' in outcome) {
        // Under jest the threadpool may have started long before: then it is left alone.
        expect(outcome.lowered).toBe(threadpoolSize());
        expect(changed).toHaveLength(outcome.lowered);
      } else {
        expect(outcome.skipped).toMatch(
          /threads appeared|not Linux|not readable/,
        );
      }
    },
  );
});
