import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { childEnvironment } from '@vault-pii/nest-encryption/embedded-postgres';
import { findFreePort } from '@vault-pii/nest-encryption/testing';

const execFileAsync = promisify(execFile);

/**
 * A PostgreSQL cluster of the reliability suite's own: initdb into a temporary folder, a free
 * loopback port, trust authentication (nothing but this machine's loopback reaches it). It can be
 * stopped as a crash would (`pg_ctl stop -m immediate`) and started again on the same port and
 * data directory. Binaries: `initdb`/`pg_ctl` from PATH, else the embedded-postgres package's.
 * As root, PostgreSQL's programs run in a user namespace mapped to `nobody` (it refuses root),
 * as `@vault-pii/nest-encryption/embedded-postgres` does.
 */
export class PostgresCluster {
  private readonly pgdata: string;
  private readonly logFile: string;
  private started = false;
  private readonly exitHook = () => this.stopSync();

  private constructor(
    private readonly baseDir: string,
    private readonly bin: { initdb: string; pgCtl: string },
    readonly port: number,
  ) {
    this.pgdata = join(baseDir, 'pgdata');
    this.logFile = join(baseDir, 'postgresql.log');
    process.once('exit', this.exitHook);
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<PostgresCluster> {
    const cluster = new PostgresCluster(
      mkdtempSync(join(tmpdir(), 'reliability-pg-')),
      locateBinaries(),
      await findFreePort(),
    );
    await cluster.exec(cluster.bin.initdb, [
      '-D',
      cluster.pgdata,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    writeFileSync(
      join(cluster.pgdata, 'postgresql.auto.conf'),
      [
        "listen_addresses = '127.0.0.1'",
        `port = ${cluster.port}`,
        "unix_socket_directories = ''",
        'max_connections = 100',
        // Only the server is crashed, never the machine: the OS keeps every committed write and
        // the WAL replay after `stop -m immediate` recovers it. Saves the shared CI disk.
        'fsync = off',
        '',
      ].join('\n'),
      { flag: 'a' },
    );
    await cluster.start();
    return cluster;
  }

  /** Starts the server (again) on its port and data directory; resolves once it accepts. */
  async start(): Promise<void> {
    await this.exec(this.bin.pgCtl, [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      this.pgdata,
      '-l',
      this.logFile,
    ]);
    this.started = true;
  }

  /** `pg_ctl stop -m immediate`: every backend killed, no checkpoint (crash recovery on start). */
  async stopImmediately(): Promise<void> {
    await this.exec(this.bin.pgCtl, [
      'stop',
      '-w',
      '-m',
      'immediate',
      '-D',
      this.pgdata,
    ]);
    this.started = false;
  }

  async close(): Promise<void> {
    if (this.started) await this.stopImmediately().catch(() => undefined);
    process.off('exit', this.exitHook);
    rmSync(this.baseDir, { recursive: true, force: true });
  }

  private stopSync(): void {
    if (!this.started) return;
    const { file, args } = wrap(this.bin.pgCtl, [
      'stop',
      '-m',
      'immediate',
      '-D',
      this.pgdata,
    ]);
    try {
      execFileSync(file, args, { stdio: 'ignore', env: childEnvironment() });
    } catch {
      // Already gone.
    }
  }

  private async exec(program: string, programArgs: string[]): Promise<void> {
    const { file, args } = wrap(program, programArgs);
    try {
      await execFileAsync(file, args, {
        env: childEnvironment(),
        timeout: 120_000,
      });
    } catch (error) {
      const { stderr, stdout, message } = error as {
        stderr?: string;
        stdout?: string;
        message: string;
      };
      throw new Error(`${program}: ${(stderr || stdout || message).trim()}`, {
        cause: error,
      });
    }
  }
}

function wrap(file: string, args: string[]): { file: string; args: string[] } {
  if (userInfo().uid !== 0) return { file, args };
  return {
    file: 'unshare',
    args: ['--user', '--map-user=65534', '--map-group=65534', file, ...args],
  };
}

function locateBinaries(): { initdb: string; pgCtl: string } {
  const onPath = (name: string): string | undefined => {
    for (const dir of (process.env.PATH ?? '').split(':')) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
    return undefined;
  };
  const initdb = onPath('initdb');
  const pgCtl = onPath('pg_ctl');
  if (initdb && pgCtl) return { initdb, pgCtl };
  const entry = require.resolve(`@embedded-postgres/${platform()}-${arch()}`);
  const bin = join(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), pgCtl: join(bin, 'pg_ctl') };
}
