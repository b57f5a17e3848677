import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '@vault-pii/nest-encryption/testing';

/**
 * Why a test that needs its own `redis-server` cannot run here, or undefined when it can. In CI
 * (`CI=true`, as `.ci/run` runs) a missing binary throws instead: there the tests must run.
 */
export function redisServerMissingReason(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return undefined;
  const reason =
    'no redis-server binary on PATH (apt-get install redis-server)';
  if (process.env.CI === 'true')
    throw new Error(`redis-server is required in CI: ${reason}`);
  return reason;
}

/**
 * A `redis-server` of the test's own, on a free port, with no persistence: stopping it and
 * starting it again on the same port is a Redis that crashed and came back empty. Never the
 * machine's shared Redis, so a test may stop, freeze or flush it at will.
 */
export class RedisServerProcess {
  readonly port: number;
  readonly url: string;
  private child: ChildProcess | undefined;
  private readonly dir: string;
  private output = '';

  private constructor(port: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.dir = mkdtempSync(join(tmpdir(), 'e2e-redis-'));
  }

  /** Starts a new server on a free port and resolves once it answers PING. */
  static async start(): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await findFreePort());
    await server.start();
    return server;
  }

  get running(): boolean {
    return (
      this.child !== undefined &&
      this.child.exitCode === null &&
      this.child.signalCode === null
    );
  }

  /** (Re)starts the server on its port, empty; resolves once it answers PING. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.running) throw new Error('redis-server is already running');
    this.output = '';
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const append = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-4_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    // However the test process ends (a crash, a timeout), its Redis does not outlive it.
    const killOnExit = () => {
      child.kill('SIGKILL');
      rmSync(this.dir, { recursive: true, force: true });
    };
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    this.child = child;
    const deadline = Date.now() + timeoutMs;
    while (!(await this.answersPing())) {
      if (!this.running)
        throw new Error(`redis-server exited on start:\n${this.output}`);
      if (Date.now() > deadline)
        throw new Error(
          `redis-server did not answer within ${timeoutMs} ms:\n${this.output}`,
        );
      await delay(50);
    }
  }

  /** Kills the server (SIGKILL: a crash, nothing saved) and resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** SIGSTOP: connections stay open, commands are accepted by the kernel, nothing answers. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT: the frozen server answers again (everything it held is still there). */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kills the server and removes its directory. */
  async close(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One raw PING on a fresh socket (no client library, no retries). */
  answersPing(timeoutMs = 500): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: this.port });
      let answer = '';
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
        if (answer.includes('\r\n')) finish(answer.startsWith('+PONG'));
      });
      socket.on('error', () => finish(false));
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
