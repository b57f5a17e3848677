import { readdirSync, readFileSync } from 'node:fs';
import { readProcessStat } from '../../src/common/process/launching-processes';

/** A live process of this machine (Linux /proc), as the process tests look for leftovers. */
export interface RunningProcess {
  pid: number;
  session: number;
  /** Its arguments joined by spaces. */
  commandLine: string;
}

/** Alive and not a zombie waiting to be reaped (a zombie holds nothing). */
export function isRunning(pid: number): boolean {
  const stat = readProcessStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Every running process (zombies left out); those that end while read are skipped. */
export function runningProcesses(): RunningProcess[] {
  const found: RunningProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcessStat(Number(entry));
    if (!stat || stat.state === 'Z') continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
        .replaceAll('\0', ' ')
        .trim();
      found.push({ pid: stat.pid, session: stat.session, commandLine });
    } catch {
      // Ended while read.
    }
  }
  return found;
}
