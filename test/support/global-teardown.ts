/** Stops the embedded PostgreSQL server global-setup.ts started, if it started one. */
export default async function globalTeardown(): Promise<void> {
  const { jestGlobalTeardown } =
    await import('@vault-pii/nest-encryption/testing');
  await jestGlobalTeardown();
}
