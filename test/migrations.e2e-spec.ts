import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from './support/test-database';

const execFileAsync = promisify(execFile);
const PROJECT_ROOT = join(__dirname, '..');

/** The TypeORM CLI through `ormconfig.ts`, as `npm run migration:*` runs it. */
function typeormCli(args: string[], databaseUrl: string) {
  return execFileAsync(
    process.execPath,
    [
      join(PROJECT_ROOT, 'node_modules/typeorm/cli-ts-node-commonjs.js'),
      '-d',
      'ormconfig.ts',
      ...args,
    ],
    {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATABASE_URL: databaseUrl,
      },
    },
  );
}

describe('migrations through the TypeORM CLI (ormconfig.ts)', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('migration:run creates the schema on an empty database', async () => {
    const { stdout } = await typeormCli(['migration:run'], database.url);
    expect(stdout).toMatch(
      /Migration CreateAuditEvents\d+ has been executed successfully/,
    );

    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(rows.map((row) => row.table_name)).toEqual([
        'access_key_data_keys',
        'access_keys',
        'audit_events',
        'contacts',
        'documents',
        'idempotency_records',
        'key_rotations',
        'profiles',
        'schema_migrations',
        'sessions',
        'user_data_keys',
        'users',
      ]);
    } finally {
      await client.end();
    }
  });

  it('the entities and the migrations agree (migration:generate --check finds nothing to do)', async () => {
    const { stdout } = await typeormCli(
      ['migration:generate', '--check', 'src/database/migrations/SchemaDrift'],
      database.url,
    );
    expect(stdout).toMatch(/No changes in database schema were found/);
  });
});
