import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '@vault-pii/nest-encryption/testing';
import { AppProcess, startAppProcess } from '../support/app-process';
import { waitUntil } from '../support/wait-until';
import { RedisServerProcess } from '../support/redis-server-process';
import { PostgresCluster } from './postgres-cluster';

/**
 * Everything the suite drives, each its own process on its own loopback port: a PostgreSQL
 * cluster, a redis-server and the app (`src/main.ts`) with a production environment. Limits that
 * would refuse the suite's legitimate load (docs/limits.md#configurable) are raised; everything
 * else is the default.
 */
export class ReliabilityStack {
  app!: AppProcess;
  private readonly env: Record<string, string>;

  private constructor(
    readonly postgres: PostgresCluster,
    readonly redis: RedisServerProcess,
    readonly dataDir: string,
    /** The app's metrics listener (docs/operations.md#metrics), where the soak reads its heap. */
    readonly metricsPort: number,
  ) {
    this.env = {
      METRICS_PORT: String(metricsPort),
      NODE_ENV: 'production',
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      DATA_DIR: dataDir,
      API_DOCS: 'true',
      // Errors only: info and warn log every request (4xx are warnings), thousands of lines.
      LOG_LEVEL: 'error',
      AUTH_RATE_LIMIT: '1000000',
      LOGIN_FAILURE_LIMIT: '1000000',
      REGISTER_EMAIL_LIMIT: '1000000',
      CONTACTS_PER_USER_LIMIT: '1000000',
      DOCUMENTS_PER_USER_LIMIT: '100000',
      DOCUMENT_CREATION_LIMIT: '10000',
      SESSIONS_PER_USER_LIMIT: '1000',
      KDF_QUEUE_LIMIT: '100000',
      KDF_QUEUE_TIMEOUT_MS: '60000',
      PDF_QUEUE_LIMIT: '10000',
    };
  }

  static async start(): Promise<ReliabilityStack> {
    const postgres = await PostgresCluster.create();
    const redis = await RedisServerProcess.start();
    const stack = new ReliabilityStack(
      postgres,
      redis,
      mkdtempSync(join(tmpdir(), 'reliability-data-')),
      await findFreePort(),
    );
    await stack.startApp();
    return stack;
  }

  get port(): number {
    return this.app.port;
  }

  get appPid(): number {
    return this.app.child.pid ?? -1;
  }

  /**
   * Starts the app (again, on the same port) and resolves once `/health/ready` answers 200 (the
   * log is at `error` level, so there is no "listening on" line to wait for).
   */
  async startApp(timeoutMs = 120_000): Promise<void> {
    const port = this.app?.port;
    const app = await startAppProcess(
      port ? { ...this.env, PORT: String(port) } : this.env,
    );
    const killOnExit = () => app.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    app.child.once('exit', () => process.off('exit', killOnExit));
    this.app = app;
    await waitUntil('the app is ready', () => this.isReady(), {
      timeoutMs,
      intervalMs: 100,
      detail: () => app.output(),
    });
  }

  async isReady(): Promise<boolean> {
    if (this.app.child.exitCode !== null || this.app.child.signalCode)
      throw new Error(`the app exited:\n${this.app.output()}`);
    try {
      const answer = await fetch(`http://127.0.0.1:${this.port}/health/ready`, {
        signal: AbortSignal.timeout(2_000),
      });
      await answer.arrayBuffer();
      return answer.status === 200;
    } catch {
      return false;
    }
  }

  /** SIGKILL, as the OOM killer or a crash would end it; resolves once it has exited. */
  async killApp(): Promise<void> {
    if (this.app.child.exitCode === null && !this.app.child.signalCode)
      this.app.child.kill('SIGKILL');
    await this.app.exited;
  }

  /** The app's resident set (VmRSS), in MiB. */
  appRssMiB(): number {
    const status = readFileSync(`/proc/${this.appPid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (!kib) throw new Error('no VmRSS in /proc/<pid>/status');
    return Number(kib[1]) / 1024;
  }

  /** The app's V8 heap in use, in MiB, as its metrics say (`nodejs_heap_size_used_bytes`). */
  async appHeapUsedMiB(): Promise<number> {
    const answer = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    const text = await answer.text();
    const bytes = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    if (answer.status !== 200 || !bytes)
      throw new Error(
        `no nodejs_heap_size_used_bytes in the app's metrics (${answer.status})`,
      );
    return Number(bytes[1]) / 2 ** 20;
  }

  async close(): Promise<void> {
    if (this.app) await this.killApp();
    await this.redis.close();
    await this.postgres.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
