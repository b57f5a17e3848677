import { DataSource } from 'typeorm';

/**
 * Key of the PostgreSQL advisory lock held while migrations run ("vault-pii migrations" as an
 * int8). TypeORM takes no lock of its own, so two instances starting on an empty database would
 * both run the same CREATE TABLEs and one would fail.
 */
export const MIGRATION_LOCK_KEY = '7652931846027511810';

/**
 * Runs pending migrations under a session-level advisory lock: a second instance waits for the
 * first, then finds nothing left to run. The lock goes with its connection if the process dies.
 */
export async function runMigrationsWithLock(
  dataSource: DataSource,
): Promise<void> {
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    await lockRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await dataSource.runMigrations({ transaction: 'all' });
    } finally {
      await lockRunner.query('SELECT pg_advisory_unlock($1)', [
        MIGRATION_LOCK_KEY,
      ]);
    }
  } finally {
    await lockRunner.release();
  }
}
