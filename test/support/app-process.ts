import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { findFreePort } from '@vault-pii/nest-encryption/testing';
import { ensureLibraryBuild } from './library-build';

const PROJECT_ROOT = join(__dirname, '..', '..');

export interface AppProcess {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * The real entry point (`src/main.ts`) in its own process, as `npm start` runs it but without
 * the app's build step (the encryption library it loads is rebuilt when stale). Only the given
 * variables (plus PATH/HOME) reach it: no DATABASE_URL leaks in.
 * `wrapper` is a command line that runs it (e.g. `prlimit --memlock=0:0`); `nodeArgs` go to node
 * before the entry point (e.g. `-r` a preload).
 */
export async function startAppProcess(
  env: Record<string, string>,
  wrapper: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<AppProcess> {
  ensureLibraryBuild('javascript');
  const port =
    env.PORT && /^\d+$/.test(env.PORT)
      ? Number(env.PORT)
      : await findFreePort();
  const command = [
    ...wrapper,
    process.execPath,
    ...nodeArgs,
    '-r',
    'ts-node/register/transpile-only',
    'src/main.ts',
  ];
  const child = spawn(command[0], command.slice(1), {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TS_NODE_PROJECT: join(PROJECT_ROOT, 'tsconfig.json'),
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchAppProcess(child, port);
}

/** The AppProcess view of a started app: its output, a wait for a line, and its exit. */
export function watchAppProcess(child: ChildProcess, port: number): AppProcess {
  let output = '';
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const check of waiters) check();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
      for (const check of waiters) check();
    }),
  );

  return {
    child,
    port,
    exited,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `timed out waiting for ${pattern}; output so far:\n${output}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          if (pattern.test(output)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(
              new Error(`process ended before ${pattern}; output:\n${output}`),
            );
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}
