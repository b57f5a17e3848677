import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** A fresh database on the test server (`DATABASE_URL`, set by the e2e Jest config), for one file. */
export interface AdoptionTestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createAdoptionTestDatabase(): Promise<AdoptionTestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl)
    throw new Error(
      'DATABASE_URL is not set: run the integration tests through test/jest-e2e.config.js',
    );
  const name = `adoption_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withClient(serverUrl, (client) =>
    client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`),
  );
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withClient(serverUrl, (client) =>
        client.query(
          `DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`,
        ),
      ).then(() => undefined),
  };
}

/** One connection for `work`, closed afterwards. */
export async function withClient<T>(
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
