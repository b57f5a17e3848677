import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '@vault-pii/nest-encryption/testing';
import { ensureBuild, PROJECT_ROOT } from './support/built-app';
import { runningProcesses } from './support/processes';
import { waitUntil } from './support/wait-until';

/**
 * Issue 13: a process manager stops `npm start` or `npm run start:prod` by signalling npm's own
 * pid. Nothing may be left behind: not `nest start`, not the shells, not the app, not its embedded
 * PostgreSQL. SIGTERM is what managers send first; SIGKILL is what they send when that is not
 * enough, and it reaches npm alone. Each case starts the script as a process manager does (a
 * session of its own), waits for /health/ready, signals npm's pid and waits for every process of
 * that session, and every process naming its DATA_DIR (the postmaster, its watchdog), to be gone.
 */

interface Started {
  npm: ChildProcess;
  dataDir: string;
  port: number;
  output(): string;
}

function processesLeft(started: Started): string[] {
  return runningProcesses()
    .filter(
      ({ session, commandLine }) =>
        session === started.npm.pid || commandLine.includes(started.dataDir),
    )
    .map(({ pid, commandLine }) => `${pid}: ${commandLine.slice(0, 120)}`);
}

/** Until the app answers /health/ready (its output, if it never does). */
async function waitForReady(started: Started, what: string): Promise<void> {
  await waitUntil(
    `${what} answers /health/ready`,
    () =>
      fetch(`http://127.0.0.1:${started.port}/health/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    {
      timeoutMs: 90_000,
      intervalMs: 200,
      detail: () => started.output().slice(-3000),
    },
  );
}

/**
 * A fresh DATA_DIR and port, and spawn options for a job in a session of its own, as systemd,
 * Docker or pm2 give a service; no DATABASE_URL, so the app runs an embedded PostgreSQL.
 */
async function jobSettings() {
  const dataDir = mkdtempSync(join(tmpdir(), 'process-stop-'));
  const port = await findFreePort();
  const options = {
    cwd: PROJECT_ROOT,
    detached: true,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATA_DIR: dataDir,
      PORT: String(port),
      npm_config_update_notifier: 'false',
    },
  };
  return { dataDir, port, options };
}

async function start(
  script: 'start' | 'start:dev' | 'start:prod',
): Promise<Started> {
  const { dataDir, port, options } = await jobSettings();
  const npm = spawn('npm', ['run', '--silent', script], {
    ...options,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const started = { npm, dataDir, port, output: () => output };
  await waitForReady(started, `npm run ${script}`);
  return started;
}

/** The app's own node process (not the shell that runs `node dist/main.js`). */
const APP_PROCESS = /^\d+: \S*node .*dist\/main/;

function appPid(started: Started): number {
  const line = processesLeft(started).find((entry) => APP_PROCESS.test(entry));
  if (!line)
    throw new Error(`no app process in ${processesLeft(started).join('\n')}`);
  return Number(line.split(':')[0]);
}

describe("stopping npm start and npm run start:prod by npm's pid leaves nothing behind", () => {
  let started: Started | undefined;

  beforeAll(() => {
    ensureBuild();
  }, 180_000);

  afterEach(() => {
    if (!started) return;
    // Whatever a failed case left: the session's processes, then the cluster's.
    for (const entry of processesLeft(started)) {
      try {
        process.kill(Number(entry.split(':')[0]), 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    rmSync(started.dataDir, { recursive: true, force: true });
    started = undefined;
  });

  it.each([
    ['start', 'SIGTERM'],
    ['start', 'SIGKILL'],
    ['start:prod', 'SIGTERM'],
    ['start:prod', 'SIGKILL'],
    // Watch mode: nest start --watch would go on watching, orphaned, unless the app stops it.
    ['start:dev', 'SIGKILL'],
  ] as const)(
    'npm run %s, then %s to npm: the shells, nest start, the app and its PostgreSQL all stop',
    async (script, signal) => {
      started = await start(script);
      const running = processesLeft(started);
      expect(running.some((line) => APP_PROCESS.test(line))).toBe(true);
      expect(running.some((line) => /bin\/postgres /.test(line))).toBe(true);
      if (script !== 'start:prod')
        expect(running.some((line) => /nest(\.js)? start/.test(line))).toBe(
          true,
        );

      process.kill(started.npm.pid!, signal);

      const s = started;
      await waitUntil(
        'every process of the job and of its PostgreSQL has ended',
        () => processesLeft(s).length === 0,
        {
          timeoutMs: 20_000,
          intervalMs: 100,
          detail: () =>
            `left:\n${processesLeft(s).join('\n')}\n--- output ---\n${s.output().slice(-3000)}`,
        },
      );
      // The app stopped as it does on SIGTERM: requests drained, its PostgreSQL stopped, then exit.
      expect(started.output()).toMatch(/shutting down: draining requests/);
      expect(started.output()).toMatch(/embedded PostgreSQL stopped/);
      expect(started.output()).toMatch(/shutdown complete/);
    },
    120_000,
  );

  it('node dist/main.js started in the background by a script that then exits keeps running (no npm script, no watch)', async () => {
    const { dataDir, port, options } = await jobSettings();
    // A deploy script's `nohup node dist/main.js &`: the script (the app's parent, same group) exits at once.
    const script = spawn(
      'sh',
      ['-c', 'node dist/main.js >"$DATA_DIR/app.log" 2>&1 & echo $!'],
      { ...options, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let printed = '';
    script.stdout.on(
      'data',
      (chunk: Buffer) => (printed += chunk.toString('utf8')),
    );
    await new Promise((resolve) => script.once('exit', resolve));
    const pid = Number(printed.trim());
    started = {
      npm: script,
      dataDir,
      port,
      output: () => readFileSync(join(dataDir, 'app.log'), 'utf8'),
    };
    await waitForReady(started, 'node dist/main.js');
    // Longer than the launcher watch's period: nothing may stop it.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(
      200,
    );
    expect(started.output()).not.toMatch(/launcherEnded/);
    process.kill(pid, 'SIGTERM');
    const s = started;
    await waitUntil(
      'the app and its PostgreSQL have ended',
      () => processesLeft(s).length === 0,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(started.output()).toMatch(/shutdown complete/);
  }, 120_000);

  it('an app killed outright (SIGKILL) still takes its embedded PostgreSQL with it', async () => {
    started = await start('start:prod');
    const app = appPid(started);
    process.kill(app, 'SIGKILL');
    const s = started;
    await waitUntil(
      'the postmaster and its watchdog have ended',
      () => processesLeft(s).length === 0,
      {
        timeoutMs: 20_000,
        intervalMs: 100,
        detail: () => `left:\n${processesLeft(s).join('\n')}`,
      },
    );
    expect(started.output()).not.toMatch(/shutdown complete/);
  }, 120_000);
});
