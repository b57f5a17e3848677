import { DataSource } from 'typeorm';
import {
  dataSourceOptions,
  MIGRATIONS,
} from '../src/database/data-source-options';
import { runMigrationsWithLock } from '../src/database/migrate-with-lock';
import { createTestDatabase, TestDatabase } from './support/test-database';

/** Instances starting together on an empty database (docker-compose replicas, a rolling deploy). */
describe('migrations at start-up, several instances at once', () => {
  let database: TestDatabase;
  const dataSources: DataSource[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(dataSources.map((dataSource) => dataSource.destroy()));
    await database?.drop();
  });

  async function connect(): Promise<DataSource> {
    const dataSource = await new DataSource({
      ...dataSourceOptions(database.url),
      migrationsRun: false,
    }).initialize();
    dataSources.push(dataSource);
    return dataSource;
  }

  it('three instances migrating an empty database together all succeed, each migration applied once', async () => {
    const instances = await Promise.all([connect(), connect(), connect()]);
    const results = await Promise.allSettled(
      instances.map((dataSource) => runMigrationsWithLock(dataSource)),
    );
    expect(results.map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);

    const applied = await instances[0].query<{ name: string }[]>(
      'SELECT name FROM schema_migrations ORDER BY id',
    );
    expect(applied.map((row) => row.name)).toEqual(
      MIGRATIONS.map((migration) => migration.name),
    );
    // Nothing left pending for anyone, and the lock was released.
    expect(await instances[1].showMigrations()).toBe(false);
    const locks = await instances[2].query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`,
    );
    expect(locks[0].n).toBe(0);
  });

  it('without the lock the same race fails (the test can tell the difference)', async () => {
    // A race need not collide every time: a few attempts, each on a fresh database.
    let collided = false;
    for (let attempt = 0; attempt < 5 && !collided; attempt++) {
      const fresh = await createTestDatabase();
      const racers = await Promise.all(
        [0, 1, 2].map(() =>
          new DataSource({
            ...dataSourceOptions(fresh.url),
            migrationsRun: false,
          }).initialize(),
        ),
      );
      try {
        const results = await Promise.allSettled(
          racers.map((dataSource) =>
            dataSource.runMigrations({ transaction: 'all' }),
          ),
        );
        collided = results.some((result) => result.status === 'rejected');
      } finally {
        await Promise.all(racers.map((dataSource) => dataSource.destroy()));
        await fresh.drop();
      }
    }
    expect(collided).toBe(true);
  });
});
