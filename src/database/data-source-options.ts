import type { DataSourceOptions } from 'typeorm';
import { CreateAuditEvents1795771187744 } from './migrations/1795771187744-CreateAuditEvents';
import { CreateUsersAndDataKeys1795773554304 } from './migrations/1795773554304-CreateUsersAndDataKeys';
import { CreateSessionsAndProfiles1795774259015 } from './migrations/1795774259015-CreateSessionsAndProfiles';
import { CreateContacts1795774898400 } from './migrations/1795774898400-CreateContacts';
import { CreateDocuments1795775504630 } from './migrations/1795775504630-CreateDocuments';
import { CreateKeyRotations1795782001272 } from './migrations/1795782001272-CreateKeyRotations';
import { AddSpentRefreshTokenHashes1796453738084 } from './migrations/1796453738084-AddSpentRefreshTokenHashes';
import { CreateIdempotencyRecords1796501048497 } from './migrations/1796501048497-CreateIdempotencyRecords';
import { CreateAccessKeys1796510216834 } from './migrations/1796510216834-CreateAccessKeys';

type PostgresConnectionOptions = Extract<
  DataSourceOptions,
  { type: 'postgres' }
>;

/**
 * Where the TypeORM CLI finds the entities (`ormconfig.ts`): every `*.entity.ts` under src/. The
 * app itself needs no list: each feature module registers its own (`TypeOrmModule.forFeature`,
 * collected by `autoLoadEntities`).
 */
export const ENTITY_SOURCES = ['src/**/*.entity.ts'];

/** In order. New migrations come from `npm run migration:generate -- src/database/migrations/Name`. */
export const MIGRATIONS = [
  CreateAuditEvents1795771187744,
  CreateUsersAndDataKeys1795773554304,
  CreateSessionsAndProfiles1795774259015,
  CreateContacts1795774898400,
  CreateDocuments1795775504630,
  CreateKeyRotations1795782001272,
  AddSpentRefreshTokenHashes1796453738084,
  CreateIdempotencyRecords1796501048497,
  CreateAccessKeys1796510216834,
];

export const MIGRATIONS_TABLE = 'schema_migrations';

/**
 * Shared by the app (`DatabaseModule`) and the CLI (`ormconfig.ts`), which add the entities:
 * never `synchronize`.
 */
export function dataSourceOptions(url: string): PostgresConnectionOptions {
  return {
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+: no uuid-ossp extension needed.
    uuidExtension: 'pgcrypto',
    applicationName: 'vault-pii-backend',
    extra: { max: 10, connectionTimeoutMillis: 5_000 },
  };
}
