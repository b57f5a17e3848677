import { ensureLibraryBuild } from './library-build';

/**
 * Tests need a real PostgreSQL server. With DATABASE_URL set (CI, a developer's server) its
 * server is used; otherwise the test kit's `jestGlobalSetup` starts one embedded server for the
 * run, in a temporary directory. Test files then create their own databases on it
 * (support/test-database.ts).
 */
export default async function globalSetup(): Promise<void> {
  // The processes tests start load the encryption library's build: current before any starts.
  if (ensureLibraryBuild('javascript') === 'built')
    process.stdout.write(
      '\ne2e: encryption library rebuilt (its sources changed)\n',
    );
  if (process.env.DATABASE_URL) {
    const { host } = new URL(process.env.DATABASE_URL);
    process.stdout.write(
      `\ne2e: PostgreSQL from DATABASE_URL (${host || 'localhost'})\n`,
    );
  }
  // Loaded only now: Jest's global setup runs outside its module registry (no moduleNameMapper),
  // so this is the library's build, just brought up to date.
  const { jestGlobalSetup } =
    await import('@vault-pii/nest-encryption/testing');
  await jestGlobalSetup();
}
