import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** A database of its own for one test file (or one testing module), dropped when done. */
export interface TestDatabase {
  name: string;
  /** Connection URL of this database (the server's URL with its name as path). */
  url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh, empty database on the PostgreSQL server at `serverUrl` (by default
 * `DATABASE_URL`, which `jestGlobalSetup` sets when it starts an embedded server).
 * @throws Error when no server URL is given and `DATABASE_URL` is not set.
 */
export async function createTestDatabase(
  serverUrl: string | undefined = process.env.DATABASE_URL,
): Promise<TestDatabase> {
  if (!serverUrl)
    throw new Error(
      'createTestDatabase: no server URL and DATABASE_URL is not set (point the Jest config at ' +
        'jestGlobalSetup, or pass the URL)',
    );
  const name = `test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withPgClient(serverUrl, (client) =>
    client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`),
  );
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      await withPgClient(serverUrl, (client) =>
        client.query(
          `DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`,
        ),
      );
    },
  };
}

/** One connection to `url` for `work`, closed afterwards. */
export async function withPgClient<T>(
  url: string,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
