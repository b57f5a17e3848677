/** What the example needs from its environment. */
export interface ExampleConfig {
  /** `postgres://…` of a database this app owns: its migrations run at start-up. */
  databaseUrl: string;
  /** 32 bytes; every server secret is derived from it (`deriveEncryptionSecrets`). */
  masterKey: Buffer;
}

/**
 * `DATABASE_URL` and `APP_MASTER_KEY` (base64 of 32 random bytes:
 * `node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`).
 * @throws Error naming the variable (never its value).
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
): ExampleConfig {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl || !/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new Error('DATABASE_URL must be a postgres:// URL');
  const masterKey = Buffer.from(env.APP_MASTER_KEY ?? '', 'base64');
  if (masterKey.length !== 32)
    throw new Error('APP_MASTER_KEY must be 32 bytes, base64-encoded');
  return { databaseUrl, masterKey };
}
