import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  firstEnded,
  launchingProcesses,
  ProcessIdentity,
  watchLaunchingProcesses,
} from './launching-processes';

/** Field `index` (0: state) after the command in /proc/<pid>/stat, read here independently of the module. */
function statField(pid: number, index: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index];
}
const PROCESS_GROUP = 2;
const START_TIME = 19;

const onLinux = process.platform === 'linux' ? describe : describe.skip;

onLinux('launching processes (Linux /proc)', () => {
  it('is empty unless an npm script started this process', () => {
    expect(launchingProcesses({})).toEqual([]);
  });

  it('walks up to npm or the process group leader and no further', () => {
    const chain = launchingProcesses({ npm_lifecycle_event: 'test' });
    expect(chain.length).toBeGreaterThan(0);
    expect(chain[0].pid).toBe(process.ppid);
    const pgid = (pid: number) => statField(pid, PROCESS_GROUP);
    for (const link of chain) expect(pgid(link.pid)).toBe(pgid(process.pid));
    expect(chain.map((link) => link.pid)).not.toContain(1);
  });

  it('tells a live process from an ended one and from a pid reused by another process', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const live: ProcessIdentity = {
      ...launchingProcesses({ npm_lifecycle_event: 'test' })[0],
    };
    const ofChild: ProcessIdentity = {
      pid: child.pid!,
      startTime: statField(child.pid!, START_TIME),
      command: 'sleep',
    };

    expect(firstEnded([live, ofChild])).toBeUndefined();
    expect(firstEnded([live, { ...ofChild, startTime: '1' }])).toEqual({
      ...ofChild,
      startTime: '1',
    });

    child.kill('SIGKILL');
    await exited;
    expect(firstEnded([live, ofChild])).toEqual(ofChild);
  });

  it('calls back once when a watched process ends, and never for an empty list', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const watched: ProcessIdentity = {
      pid: child.pid!,
      startTime: statField(child.pid!, START_TIME),
      command: 'sleep',
    };
    const ended: ProcessIdentity[] = [];
    const stop = watchLaunchingProcesses(
      [watched],
      (process) => ended.push(process),
      20,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ended).toEqual([]);
    child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ended).toEqual([watched]);
    stop();
    expect(
      watchLaunchingProcesses([], () => ended.push(watched)),
    ).toBeInstanceOf(Function);
  });
});
