/**
 * The app under test, served as production serves it: compiled JavaScript (no ts-node) in
 * a child process of its own — so the load generator never shares its event loop — with
 * NODE_ENV=production, a generated APP_MASTER_KEY, DATA_DIR in the bench's scratch directory,
 * a throw-away database, the default LOG_LEVEL (JSON lines to a log file), and the auth and
 * access-key rate limits raised so that the bench measures work, not throttling.
 *
 * The compiled tree is `src/**` plus the bench-only `bench/http/server/**` (the plaintext
 * twin), emitted to JavaScript by the TypeScript compiler file by file (`transpileModule`, with
 * the project's compiler options: a whole-program `tsc` took 12–18 s on this loaded 2-core
 * machine, too long for `--quick`; `npm run typecheck` checks the types) and cached under
 * node_modules/.cache by a hash of the sources. No ts-node hook runs in the server.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import ts from 'typescript';
import { findFreePort } from '@vault-pii/nest-encryption/testing';
import type { BenchContext } from '../../support/bench-context';

const ROOT = join(__dirname, '..', '..', '..');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'vault-pii-bench-build');
const ENTRY = join('bench', 'http', 'server', 'bench-server.js');

const ARGON2_VARIABLES = [
  'ARGON2_MEMORY_KIB',
  'ARGON2_ITERATIONS',
  'ARGON2_PARALLELISM',
];

/** The environment the server gets beyond PATH/HOME/PORT (also what the bench reads its config from). */
export function benchServerEnvironment(
  context: BenchContext,
  databaseUrl: string,
  name: string,
): Record<string, string> {
  const dataDir = join(context.scratchDir, `${name}-data`);
  mkdirSync(dataDir, { recursive: true });
  return {
    NODE_ENV: 'production',
    APP_MASTER_KEY: randomBytes(32).toString('base64'),
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    AUTH_RATE_LIMIT: '1000000',
    LOGIN_FAILURE_LIMIT: '1000000',
    // The login bench logs its few accounts in hundreds of times: at the default cap (20) each
    // login would end the account's oldest session, the latency probe's among them.
    SESSIONS_PER_USER_LIMIT: '1000',
    // The http section sends thousands of requests a minute with one access key: at the default
    // (600 a minute) they would be 429s, and the bench would measure the limit, not the key.
    ACCESS_KEY_RATE_LIMIT: '1000000',
    // The argon2id cost, when the bench is asked to run at another one than the default.
    ...Object.fromEntries(
      ARGON2_VARIABLES.filter((name) => process.env[name]).map((name) => [
        name,
        process.env[name] as string,
      ]),
    ),
  };
}

export interface BenchServer {
  readonly baseUrl: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** The end of the server's log (for error messages). */
  logTail(): string;
  /** Sends SIGTERM and waits for a clean exit (which writes a CPU profile when one was asked for). */
  stop(): Promise<void>;
}

export interface StartOptions {
  env: Record<string, string>;
  /** Log file name in the scratch directory. */
  name: string;
  /**
   * Another checkout's root to compile `src/**` from (e.g. `git archive <ref> src | tar -x -C dir`),
   * to compare a change with its baseline side by side; default: this tree.
   */
  sourceRoot?: string;
  /** Extra node options for the server (e.g. V8 GC flags to compare). */
  nodeArgs?: string[];
}

/**
 * Starts the compiled bench server and resolves once `/health/ready` answers 200.
 * `BENCH_SERVER_CPU_PROF=<dir>` runs it with `--cpu-prof` into that directory.
 */
export async function startBenchServer(
  context: BenchContext,
  options: StartOptions,
): Promise<BenchServer> {
  const buildDir = await compiledApp(context, options.sourceRoot ?? ROOT);
  const port = await findFreePort();
  const logFile = join(context.scratchDir, `${options.name}.log`);
  const log = openSync(logFile, 'a');
  const profileDir = process.env.BENCH_SERVER_CPU_PROF;
  const nodeArgs = profileDir
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${profileDir}`,
        `--cpu-prof-name=${options.name}-${Date.now()}.cpuprofile`,
      ]
    : [];
  const child = spawn(
    process.execPath,
    [...nodeArgs, ...(options.nodeArgs ?? []), join(buildDir, ENTRY)],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: String(port),
        ...options.env,
      },
      stdio: ['ignore', log, log],
    },
  );
  closeSync(log);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const logTail = () =>
    existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '';

  const started = Date.now();
  const deadline = started + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`bench server exited during start-up:\n${logTail()}`);
    try {
      const response = await fetch(`${baseUrl}/health/ready`);
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench server not ready after 60 s:\n${logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  context.progress(
    `${options.name}: server ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  return {
    baseUrl,
    port,
    child,
    logTail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const stopping = Date.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      context.progress(
        `${options.name}: server stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`,
      );
    },
  };
}

export interface SharedBenchServer {
  server: BenchServer;
  databaseUrl: string;
  /** The server's environment (its configuration: the bench reads the argon2id cost from it). */
  env: Record<string, string>;
}

const shared = new WeakMap<BenchContext, Promise<SharedBenchServer>>();

/**
 * One app server (and database) for every section of a bench run that serves HTTP, started on
 * first use and stopped when the bench ends: a start costs about 2 s, much of `--quick`.
 */
export function sharedBenchServer(
  context: BenchContext,
): Promise<SharedBenchServer> {
  let server = shared.get(context);
  if (!server) {
    server = (async () => {
      const databaseUrl = await context.createDatabase('bench_app');
      const env = benchServerEnvironment(context, databaseUrl, 'app');
      const started = await startBenchServer(context, { name: 'app', env });
      context.onClose(() => started.stop());
      return { server: started, databaseUrl, env };
    })();
    shared.set(context, server);
  }
  return server;
}

const building = new Map<string, Promise<string>>();

/** Compiles once per bench run; reuses an earlier run's output when no source changed. */
function compiledApp(
  context: BenchContext,
  sourceRoot: string,
): Promise<string> {
  if (!building.has(sourceRoot))
    building.set(
      sourceRoot,
      new Promise((resolve) => resolve(compile(context, sourceRoot))),
    );
  return building.get(sourceRoot)!;
}

function compile(context: BenchContext, sourceRoot: string): string {
  // The app from `sourceRoot`, the bench server always from this tree.
  const rootOf = (file: string) => (file.startsWith('src') ? sourceRoot : ROOT);
  const sources = [
    ...listSources(sourceRoot, 'src'),
    ...listSources(ROOT, join('bench', 'http', 'server')),
  ];
  const hash = createHash('sha256').update(ts.version);
  for (const file of ['tsconfig.json', 'package-lock.json'])
    hash.update(readFileSync(join(ROOT, file)));
  for (const file of sources)
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(rootOf(file), file)))
      .update('\0');
  const outDir = join(CACHE_DIR, hash.digest('hex').slice(0, 16));
  if (existsSync(join(outDir, ENTRY))) return outDir;

  const started = Date.now();
  context.progress(
    'compiling the app and the bench server (TypeScript, file by file)',
  );
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(
          ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
        );
      },
    },
  );
  if (!parsed) throw new Error('bench: could not read tsconfig.json');
  const tmpDir = `${outDir}.tmp-${process.pid}`;
  for (const file of sources) {
    const output = ts.transpileModule(
      readFileSync(join(rootOf(file), file), 'utf8'),
      {
        compilerOptions: {
          ...parsed.options,
          sourceMap: true,
          inlineSources: false,
        },
        fileName: join(ROOT, file),
        reportDiagnostics: true,
      },
    );
    const errors = (output.diagnostics ?? []).filter(
      (d) => d.category === ts.DiagnosticCategory.Error,
    );
    if (errors.length > 0)
      throw new Error(
        `bench: ${file}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, '\n')}`,
      );
    const target = join(tmpDir, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(
      target,
      output.outputText.replace(
        /\/\/# sourceMappingURL=.*$/m,
        `//# sourceMappingURL=${basename(target)}.map`,
      ),
    );
    if (output.sourceMapText)
      writeFileSync(`${target}.map`, output.sourceMapText);
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  try {
    renameSync(tmpDir, outDir);
  } catch (error) {
    // Another bench run built the same sources at the same time: keep theirs.
    rmSync(tmpDir, { recursive: true, force: true });
    if (!existsSync(join(outDir, ENTRY))) throw error;
  }
  pruneOldBuilds(outDir);
  context.progress(
    `compiled ${sources.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return outDir;
}

/** Non-test TypeScript files under `root/dir`, relative to `root`. */
function listSources(root: string, dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'testing') found.push(...listSources(root, path));
    } else if (
      entry.name.endsWith('.ts') &&
      !entry.name.endsWith('.spec.ts') &&
      !entry.name.endsWith('.d.ts')
    ) {
      found.push(path);
    }
  }
  return found.sort();
}

/** Keeps the five newest builds. */
function pruneOldBuilds(keep: string): void {
  const builds = readdirSync(CACHE_DIR)
    .map((name) => join(CACHE_DIR, name))
    .filter((path) => path !== keep && !path.includes('.tmp-'))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const old of builds.slice(4))
    rmSync(old, { recursive: true, force: true });
}
