import { readFileSync } from 'node:fs';

/** A process, told apart from a later one that reuses its pid by its start time. */
export interface ProcessIdentity {
  pid: number;
  /** Clock ticks after boot (/proc/<pid>/stat field 22). */
  startTime: string;
  command: string;
}

export interface ProcessStat extends ProcessIdentity {
  /** R, S, D, Z (a zombie: ended, not yet reaped), … */
  state: string;
  parentPid: number;
  processGroup: number;
  session: number;
}

/** /proc/<pid>/stat, or undefined once the process is gone (or off Linux). */
export function readProcessStat(pid: number | 'self'): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (command) state ppid pgrp session … starttime …": the command may hold spaces and ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return {
    pid: Number(text.slice(0, open - 1)),
    command: text.slice(open + 1, close),
    state: fields[0],
    parentPid: Number(fields[1]),
    processGroup: Number(fields[2]),
    session: Number(fields[3]),
    startTime: fields[19],
  };
}

/**
 * The processes that an npm script started this one through: its parent, that one's parent and
 * so on up to npm itself (for `npm start`: `nest start`, the shells, npm), as long as they belong
 * to this process's process group. Nothing above npm, and nothing at all unless an npm script
 * started this process (`env.npm_lifecycle_event`): `node dist/main.js` under systemd, Docker or
 * a deploy script's `nohup … &` is left alone. A shell's job control and `setsid` start a new
 * group, so the walk stops there too. Empty off Linux (no /proc).
 */
export function launchingProcesses(
  env: NodeJS.ProcessEnv = process.env,
): ProcessIdentity[] {
  if (!env.npm_lifecycle_event) return [];
  const self = readProcessStat('self');
  if (!self) return [];
  const chain: ProcessIdentity[] = [];
  let pid = self.parentPid;
  while (pid > 1) {
    const stat = readProcessStat(pid);
    if (!stat || stat.processGroup !== self.processGroup) break;
    chain.push({
      pid: stat.pid,
      startTime: stat.startTime,
      command: stat.command,
    });
    // npm names its process after the command it runs ("npm run start", "npm start").
    if (stat.command.startsWith('npm') || stat.pid === stat.processGroup) break;
    pid = stat.parentPid;
  }
  return chain;
}

/** Whether `process` has ended: its pid is gone, or reused by a later process. */
function hasEnded(process: ProcessIdentity): boolean {
  return readProcessStat(process.pid)?.startTime !== process.startTime;
}

/** The first of `processes` that has ended, if any. */
export function firstEnded(
  processes: readonly ProcessIdentity[],
): ProcessIdentity | undefined {
  return processes.find(hasEnded);
}

/**
 * Calls `onEnded` once when one of `processes` ends, checking every `intervalMs`: a process
 * manager that signals or kills npm's pid stops npm alone, and this is how the app learns that
 * its launcher is gone. Returns a function that stops watching. The timer keeps nothing alive.
 */
export function watchLaunchingProcesses(
  processes: readonly ProcessIdentity[],
  onEnded: (ended: ProcessIdentity) => void,
  intervalMs = 1_000,
): () => void {
  if (processes.length === 0) return () => undefined;
  const timer = setInterval(() => {
    const ended = firstEnded(processes);
    if (!ended) return;
    clearInterval(timer);
    onEnded(ended);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Asks the launchers that are still running to stop (SIGTERM), once one of them has ended: they
 * are orphans of a job that is over. `nest start --watch` would otherwise go on watching after
 * its npm has gone; on SIGTERM it passes the signal to the app and exits with it. Only processes
 * of this process's own group and ancestry are ever signalled, each checked by start time first.
 */
export function stopSurvivingLaunchers(
  processes: readonly ProcessIdentity[],
): void {
  for (const launcher of processes) {
    if (hasEnded(launcher)) continue;
    try {
      process.kill(launcher.pid, 'SIGTERM');
    } catch {
      // Ended meanwhile.
    }
  }
}
