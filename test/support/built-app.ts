import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findFreePort } from '@vault-pii/nest-encryption/testing';
import { AppProcess, watchAppProcess } from './app-process';
import { ensureLibraryBuild, newestSourceTime } from './library-build';

export const PROJECT_ROOT = join(__dirname, '..', '..');
export const DIST_DIR = join(PROJECT_ROOT, 'dist');
const DIST_MAIN = join(DIST_DIR, 'main.js');

/**
 * `npm run build` unless dist/main.js is newer than every source file; resolves with what it did
 * (the compiled app is what production runs: `node dist/main.js`). The encryption library it
 * loads is rebuilt first when stale, with the declarations the app's build checks against.
 */
export function ensureBuild(): 'reused' | 'built' {
  ensureLibraryBuild('declarations');
  const sources = Math.max(
    newestSourceTime(join(PROJECT_ROOT, 'src')),
    statSync(join(PROJECT_ROOT, 'tsconfig.build.json')).mtimeMs,
  );
  if (existsSync(DIST_MAIN) && statSync(DIST_MAIN).mtimeMs > sources)
    return 'reused';
  execFileSync(
    process.execPath,
    [
      join(PROJECT_ROOT, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'),
      'build',
    ],
    {
      cwd: PROJECT_ROOT,
      stdio: 'pipe',
      timeout: 180_000,
    },
  );
  if (!existsSync(DIST_MAIN))
    throw new Error('npm run build did not produce dist/main.js');
  return 'built';
}

/**
 * `node [nodeArgs] dist/main.js` in its own process with only `env` (plus PATH, and a free PORT
 * unless given): what `npm run start:prod` runs.
 */
export async function startBuiltApp(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<AppProcess> {
  const port =
    env.PORT && /^\d+$/.test(env.PORT)
      ? Number(env.PORT)
      : await findFreePort();
  const child = spawn(process.execPath, [...nodeArgs, DIST_MAIN], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // However the test process ends, the app does not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  return watchAppProcess(child, port);
}

/** SIGTERM (drain and exit), then the exit code or signal name. */
export async function stopApp(
  app: AppProcess | undefined,
): Promise<number | string | undefined> {
  if (!app) return undefined;
  if (app.child.exitCode === null && app.child.signalCode === null)
    app.child.kill('SIGTERM');
  return app.exited;
}
