import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess, startAppProcess } from './support/app-process';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { isRunning, runningProcesses } from './support/processes';
import { waitUntil } from './support/wait-until';

/** The real entry point in its own process: configuration refusal, start-up, SIGTERM, SIGKILL. */
describe('start-up and shutdown (src/main.ts)', () => {
  const processes: AppProcess[] = [];
  const dirs: string[] = [];

  async function start(env: Record<string, string>): Promise<AppProcess> {
    const app = await startAppProcess({ LOG_LEVEL: 'info', ...env });
    processes.push(app);
    return app;
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-startup-'));
    dirs.push(dir);
    return dir;
  }

  afterEach(async () => {
    for (const app of processes.splice(0)) {
      if (app.child.exitCode === null && app.child.signalCode === null) {
        app.child.kill('SIGTERM');
        await app.exited;
      }
    }
  });
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('refuses to start on bad configuration, naming the variable', () => {
    it.each([
      ['a bad PORT', { PORT: 'eighty' }, /PORT: must be a whole number/],
      [
        'a short APP_MASTER_KEY in production',
        {
          NODE_ENV: 'production',
          APP_MASTER_KEY: randomBytes(16).toString('base64'),
        },
        /APP_MASTER_KEY: must be 32 bytes/,
      ],
      [
        'no APP_MASTER_KEY in production',
        { NODE_ENV: 'production' },
        /APP_MASTER_KEY: is required when NODE_ENV=production/,
      ],
      [
        'a bad SESSION_IDLE_TTL',
        { SESSION_IDLE_TTL: 'soon' },
        /SESSION_IDLE_TTL: must be a duration/,
      ],
      [
        'a bad API_DOCS',
        { API_DOCS: 'off' },
        /API_DOCS: must be true or false \(got "off"\)/,
      ],
      [
        'a bad ALLOW_EMBEDDED_POSTGRES',
        { ALLOW_EMBEDDED_POSTGRES: 'maybe' },
        /ALLOW_EMBEDDED_POSTGRES: must be true or false/,
      ],
    ])('%s', async (_name, env, message) => {
      const app = await start({ DATA_DIR: tempDir(), ...env });
      expect(await app.exited).toBe(1);
      expect(app.output()).toMatch(message);
      expect(app.output()).toContain('The service did not start.');
    });

    it('production without DATABASE_URL: exits 1 naming DATABASE_URL, and starts no embedded PostgreSQL', async () => {
      const dataDir = tempDir();
      const app = await start({
        NODE_ENV: 'production',
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        DATA_DIR: dataDir,
      });
      expect(await app.exited).toBe(1);
      expect(app.output()).toMatch(
        /DATABASE_URL: is required when NODE_ENV=production \(or set ALLOW_EMBEDDED_POSTGRES=true/,
      );
      expect(app.output()).toContain('The service did not start.');
      expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
    });
  });

  describe('with DATABASE_URL', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(() => database?.drop());

    it('serves /health/ready, then drains and exits 0 on SIGTERM', async () => {
      const app = await start({
        DATABASE_URL: database.url,
        DATA_DIR: tempDir(),
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
      });
      await app.waitForOutput(/listening on/);
      const ready = await fetch(`http://127.0.0.1:${app.port}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ok',
        checks: { database: 'up', vault: 'up', documents: 'up' },
        keyMemory: 'locked',
      });

      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(app.output()).toMatch(/shutdown complete/);
    });
    it('with LOG_PRETTY=true, logs readable lines through pino-pretty instead of JSON', async () => {
      const app = await start({
        DATABASE_URL: database.url,
        DATA_DIR: tempDir(),
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        LOG_PRETTY: 'true',
      });
      await app.waitForOutput(/listening on/);
      await fetch(`http://127.0.0.1:${app.port}/v1/me`); // a request log line (401)
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      const lines = app
        .output()
        .split('\n')
        .filter((line) => line.trim() !== '');
      const listening = lines.find((line) => line.includes('listening on'));
      expect(listening).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO/);
      expect(
        lines.some((line) => line.includes('WARN') && line.includes('/v1/me')),
      ).toBe(true);
      expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
      expect(app.output()).toMatch(/shutdown complete/);
    });
  });

  describe('without DATABASE_URL (embedded PostgreSQL under DATA_DIR)', () => {
    it('starts the embedded server; a SIGKILL of the app takes its postmaster along; a postmaster left anyway is cleared at the next start; SIGTERM stops it', async () => {
      const dataDir = tempDir();
      const pidFile = join(dataDir, 'postgres', 'pgdata', 'postmaster.pid');
      const postmasterPid = () =>
        Number(readFileSync(pidFile, 'utf8').split('\n')[0]);

      const first = await start({ DATA_DIR: dataDir });
      await first.waitForOutput(/listening on/, 60_000);
      expect(first.output()).toMatch(/cluster initialised in \d+ ms/);
      expect(first.output()).toMatch(
        /APP_MASTER_KEY is not set: using the development key/,
      );
      expect(
        (await fetch(`http://127.0.0.1:${first.port}/health/ready`)).status,
      ).toBe(200);

      // SIGKILL: no shutdown code runs, but the watchdog stops the postmaster.
      const firstPostmaster = postmasterPid();
      first.child.kill('SIGKILL');
      await first.exited;
      await waitUntil(
        'the watchdog has stopped the postmaster of the killed app',
        () => !existsSync(pidFile) && !isRunning(firstPostmaster),
        { timeoutMs: 20_000, intervalMs: 100 },
      );

      const second = await start({ DATA_DIR: dataDir });
      await second.waitForOutput(/listening on/, 60_000);
      expect(second.output()).not.toMatch(/stale/);
      expect(second.output()).not.toMatch(/cluster initialised/);

      // App and watchdog killed together (a machine-wide kill): the postmaster is left running.
      const stalePid = postmasterPid();
      const watchdog = watchdogOf(dataDir);
      process.kill(watchdog, 'SIGKILL');
      second.child.kill('SIGKILL');
      await second.exited;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(isRunning(stalePid)).toBe(true);

      const third = await start({ DATA_DIR: dataDir });
      await third.waitForOutput(/listening on/, 60_000);
      expect(third.output()).toMatch(/stopping a stale embedded PostgreSQL/);
      expect(third.output()).not.toMatch(/cluster initialised/);
      expect(
        (await fetch(`http://127.0.0.1:${third.port}/health/ready`)).status,
      ).toBe(200);

      third.child.kill('SIGTERM');
      expect(await third.exited).toBe(0);
      expect(third.output()).toMatch(/embedded PostgreSQL stopped/);
      expect(existsSync(pidFile)).toBe(false);
      expect(isRunning(stalePid)).toBe(false);
      await waitUntil(
        'the last watchdog has gone',
        () => watchdogOf(dataDir, false) === 0,
        { timeoutMs: 10_000, intervalMs: 100 },
      );
    });
  });
});

/** The pid of the embedded PostgreSQL's stop watchdog for `dataDir` (its command line names it). */
function watchdogOf(dataDir: string, required = true): number {
  const watchdog = runningProcesses().find(
    ({ commandLine }) =>
      commandLine.includes(dataDir) && commandLine.includes('"stop"'),
  );
  if (!watchdog && required) throw new Error(`no watchdog for ${dataDir}`);
  return watchdog?.pid ?? 0;
}
