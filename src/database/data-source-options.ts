import type { DataSourceOptions } from 'typeorm';
import { AuditEvent } from '../audit/audit-event.entity';
import { BlindIndexSubscriber } from '../encrypted-column/blind-index';
import { CreateAuditEvents1795771187744 } from './migrations/1795771187744-CreateAuditEvents';


type PostgresConnectionOptions = Extract<DataSourceOptions, { type: 'postgres' }>;

/** Every entity of the application; the TypeORM CLI needs them listed to generate migrations. */
export const ENTITIES = [AuditEvent];

/** In order. New migrations come from `npm run migration:generate -- src/database/migrations/Name`. */
export const MIGRATIONS = [CreateAuditEvents1795771187744];

export const MIGRATIONS_TABLE = 'schema_migrations';

/** Shared by the app (`DatabaseModule`) and the CLI (`ormconfig.ts`): never `synchronize`. */
export function dataSourceOptions(url: string): PostgresConnectionOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    subscribers: [BlindIndexSubscriber],
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    applicationName: 'vault-pii-backend',
    extra: { max: 10, connectionTimeoutMillis: 5_000 },
  };
}
