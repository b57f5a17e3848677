import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/** A fresh, empty database on the e2e server, owned by one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl)
    throw new Error(
      'DATABASE_URL is not set: run the e2e tests through their Jest config',
    );
  const name = `e2e_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
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

/** One connection to `serverUrl` for `work`, closed afterwards. */
export async function withPgClient<T>(
  serverUrl: string,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
