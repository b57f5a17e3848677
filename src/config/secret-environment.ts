/**
 * Variables whose values are secrets (docs/crypto.md#keys-in-memory: secrets are removed from
 * `process.env` after reading and never passed to child processes):
 * - `APP_MASTER_KEY`: the root of every server secret;
 * - `PKCS11_PIN`: unlocks the token that unseals `APP_MASTER_KEY_SEALED`;
 * - `DATABASE_URL`, `REDIS_URL`: may carry passwords (`postgres://user:password@…`);
 * - `OTEL_EXPORTER_OTLP_HEADERS` (a collector's API key), `OTEL_EXPORTER_OTLP_ENDPOINT` (a URL
 *   too): the trace exporter read both when main.ts's first import built it.
 *
 * Paths (`APP_MASTER_KEY_FILE`, `APP_MASTER_KEY_SEALED` — a sealed file, useless without the
 * token —, `PKCS11_PIN_FILE`, `PKCS11_MODULE`) are not secrets and stay.
 *
 * Everything here is read once, by `loadAppConfig()`, before the removal; nothing in the app reads
 * them from `process.env` afterwards (`ormconfig.ts`, the TypeORM CLI's entry point, is a process
 * of its own).
 */
export const SECRET_ENVIRONMENT_VARIABLES = [
  'APP_MASTER_KEY',
  'PKCS11_PIN',
  'DATABASE_URL',
  'REDIS_URL',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
] as const;

/**
 * Deletes every secret variable from `env` (`process.env` in `main.ts`, right after the config
 * was read), so that neither a later `process.env` reader nor a child process that inherits the
 * environment sees them. Resolves with the names it removed.
 *
 * What this cannot do: the kernel keeps the environment the process started with at a fixed place
 * of its stack, and `/proc/<pid>/environ` (readable by the same user and by root) and a core dump
 * show that block for the process's whole life. Deleting a variable only unhooks it from libc's
 * `environ`. Prefer a source that never puts the secret there (`APP_MASTER_KEY_FILE`,
 * `PKCS11_PIN_FILE`).
 */
export function removeSecretsFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const removed: string[] = [];
  for (const name of SECRET_ENVIRONMENT_VARIABLES) {
    if (Object.prototype.hasOwnProperty.call(env, name)) {
      delete env[name];
      removed.push(name);
    }
  }
  return removed;
}
