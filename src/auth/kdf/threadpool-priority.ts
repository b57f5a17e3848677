import { readdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { availableParallelism, setPriority } from 'node:os';

/** libuv's threadpool size: UV_THREADPOOL_SIZE as libuv reads it (default 4, at most 1024). */
export function threadpoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const configured = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(configured) && configured > 0
    ? Math.min(configured, 1024)
    : 4;
}

/**
 * How many argon2id calls may run at once: one per core — more only queue on the same cores —
 * and always at least one threadpool thread left for file system and DNS work, so a login
 * storm never starves the documents' file streams (docs/benchmarks.md#targets).
 */
export function kdfConcurrency(
  poolSize = threadpoolSize(),
  cores = availableParallelism(),
): number {
  return Math.max(1, Math.min(cores, poolSize - 1));
}

function threadIds(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}

/**
 * This process's threads when this module was first loaded — in `main.ts`, during the imports,
 * before anything could start libuv's threadpool (it starts on first use).
 */
const threadsAtLoad = new Set(threadIds());

export type ThreadpoolPriorityOutcome =
  { lowered: number; niceness: number } | { skipped: string };

/**
 * Linux only, best effort: gives libuv's threadpool threads a higher niceness (a lower CPU
 * priority) than the main thread, so that argon2id running there takes only the CPU time the
 * event loop (and PostgreSQL) leave idle: a login storm then still uses every idle cycle, but
 * no longer slows the requests of other users (docs/benchmarks.md#targets: p99 within 2× of idle).
 *
 * Niceness is per thread on Linux, and an unprivileged process may always raise its own. The
 * pool's threads are told apart as the threads that appeared since this module was loaded
 * (starting the pool now if it has not started): exactly `threadpoolSize()` of them, or
 * nothing is changed.
 */
export async function lowerThreadpoolPriority(
  niceness: number,
): Promise<ThreadpoolPriorityOutcome> {
  if (process.platform !== 'linux')
    return { skipped: `not Linux (${process.platform})` };
  if (threadsAtLoad.size === 0)
    return { skipped: '/proc/self/task is not readable' };
  let added = threadIds().filter((id) => !threadsAtLoad.has(id));
  if (added.length === 0) {
    // Any threadpool request starts every thread of the pool at once.
    await access('.');
    added = threadIds().filter((id) => !threadsAtLoad.has(id));
  }
  const expected = threadpoolSize();
  if (added.length !== expected) {
    return {
      skipped: `${added.length} threads appeared since start-up, not the ${expected} of the threadpool`,
    };
  }
  for (const id of added) setPriority(Number(id), niceness);
  return { lowered: added.length, niceness };
}
