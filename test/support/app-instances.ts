import request from 'supertest';
import { AppProcess, startAppProcess } from './app-process';

/** One running `src/main.ts` process of a multi-instance test, and an HTTP client for it. */
export interface AppInstance {
  name: string;
  process: AppProcess;
  url: string;
  http(): ReturnType<typeof request>;
}

/**
 * Starts `src/main.ts` with `env` and resolves once it listens. Instances of one deployment get
 * the same `env` (one APP_MASTER_KEY, DATABASE_URL, REDIS_URL): they differ only in their port.
 */
export async function startAppInstance(
  name: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<AppInstance> {
  const process = await startAppProcess(env);
  // However the test process ends (a crash, a timeout), the app does not outlive it.
  const killOnExit = () => process.child.kill('SIGKILL');
  globalThis.process.once('exit', killOnExit);
  process.child.once('exit', () => globalThis.process.off('exit', killOnExit));
  try {
    await process.waitForOutput(/listening on/, timeoutMs);
  } catch (error) {
    await stopAppInstance({ process } as AppInstance, 'SIGKILL');
    throw error;
  }
  const url = `http://127.0.0.1:${process.port}`;
  return { name, process, url, http: () => request(url) };
}

/** Sends `signal` (SIGTERM: drain and exit 0) and resolves with the exit code or signal name. */
export async function stopAppInstance(
  instance: AppInstance | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | string | undefined> {
  const child = instance?.process.child;
  if (!child) return undefined;
  if (child.exitCode !== null || child.signalCode !== null)
    return instance.process.exited;
  child.kill(signal);
  return instance.process.exited;
}

/** Every JSON log line an instance printed (non-JSON lines are kept as `{ raw }`). */
export function instanceLogs(instance: AppInstance): Record<string, unknown>[] {
  return instance.process
    .output()
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { raw: line };
      }
    });
}
