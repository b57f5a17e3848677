import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmbeddedPostgres } from '@vault-pii/nest-encryption/embedded-postgres';
import { ensureLibraryBuild } from './library-build';

declare global {
  var __E2E_EMBEDDED_POSTGRES__:
    { server: EmbeddedPostgres; dir: string } | undefined;
}

/**
 * Tests need a real PostgreSQL server. With DATABASE_URL set (CI, a developer's server) its
 * server is used; otherwise one embedded server is started for the run, in a temporary directory.
 * Test files then create their own databases on it (support/test-database.ts).
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
    return;
  }
  // Loaded only now: Jest's global setup runs outside its module registry (no moduleNameMapper),
  // so this is the library's build, just brought up to date.
  const { EmbeddedPostgres } =
    await import('@vault-pii/nest-encryption/embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'e2e-postgres-'));
  const started = Date.now();
  const server = await EmbeddedPostgres.start({
    baseDir: join(dir, 'postgres'),
    database: 'e2e',
  });
  globalThis.__E2E_EMBEDDED_POSTGRES__ = { server, dir };
  process.env.DATABASE_URL = server.url;
  process.stdout.write(
    `\ne2e: no DATABASE_URL, embedded PostgreSQL started in ${Date.now() - started} ms\n`,
  );
}
