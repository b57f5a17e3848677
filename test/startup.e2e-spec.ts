import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess, startAppProcess } from './support/app-process';
import { createTestDatabase, TestDatabase } from './support/test-database';

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
    ])('%s', async (_name, env, message) => {
      const app = await start({ DATA_DIR: tempDir(), ...env });
      expect(await app.exited).toBe(1);
      expect(app.output()).toMatch(message);
      expect(app.output()).toContain('The service did not start.');
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
        checks: { database: 'up', vault: 'up' },
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
    it('starts the embedded server, survives a SIGKILL of the app, and stops it on SIGTERM', async () => {
      const dataDir = tempDir();
      const pidFile = join(dataDir, 'postgres', 'pgdata', 'postmaster.pid');

      const first = await start({ DATA_DIR: dataDir });
      await first.waitForOutput(/listening on/, 60_000);
      expect(first.output()).toMatch(/cluster initialised in \d+ ms/);
      expect(first.output()).toMatch(
        /APP_MASTER_KEY is not set: using the development key/,
      );
      expect(
        (await fetch(`http://127.0.0.1:${first.port}/health/ready`)).status,
      ).toBe(200);

      // A SIGKILL leaves the postmaster running; the next start must clear it, not fail.
      first.child.kill('SIGKILL');
      await first.exited;
      expect(existsSync(pidFile)).toBe(true);
      const stalePid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      expect(isRunning(stalePid)).toBe(true);

      const second = await start({ DATA_DIR: dataDir });
      await second.waitForOutput(/listening on/, 60_000);
      expect(second.output()).toMatch(/stopping a stale embedded PostgreSQL/);
      expect(second.output()).not.toMatch(/cluster initialised/);
      expect(
        (await fetch(`http://127.0.0.1:${second.port}/health/ready`)).status,
      ).toBe(200);

      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(second.output()).toMatch(/embedded PostgreSQL stopped/);
      expect(existsSync(pidFile)).toBe(false);
      expect(isRunning(stalePid)).toBe(false);
    });
  });
});

/** Alive and not a zombie waiting to be reaped (Linux: /proc/PID/stat state). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return (
      stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
    );
  } catch {
    return true;
  }
}
