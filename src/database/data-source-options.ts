import type { DataSourceOptions } from 'typeorm';
import { AuditEvent } from '../audit/audit-event.entity';
import { Session } from '../auth/sessions/session.entity';
import { Contact } from '../contacts/contact.entity';
import { StoredDocument } from '../documents/document.entity';
import { KeyRotation } from '../key-rotation/key-rotation.entity';
import { Profile } from '../profile/profile.entity';
import { UserDataKey } from '../users/user-data-key.entity';
import { User } from '../users/user.entity';
import { CreateAuditEvents1795771187744 } from './migrations/1795771187744-CreateAuditEvents';
import { CreateUsersAndDataKeys1795773554304 } from './migrations/1795773554304-CreateUsersAndDataKeys';
import { CreateSessionsAndProfiles1795774259015 } from './migrations/1795774259015-CreateSessionsAndProfiles';
import { CreateContacts1795774898400 } from './migrations/1795774898400-CreateContacts';
import { CreateDocuments1795775504630 } from './migrations/1795775504630-CreateDocuments';
import { CreateKeyRotations1795782001272 } from './migrations/1795782001272-CreateKeyRotations';

type PostgresConnectionOptions = Extract<
  DataSourceOptions,
  { type: 'postgres' }
>;

/** Every entity of the application; the TypeORM CLI needs them listed to generate migrations. */
export const ENTITIES = [
  AuditEvent,
  User,
  UserDataKey,
  Session,
  Profile,
  Contact,
  StoredDocument,
  KeyRotation,
];

/** In order. New migrations come from `npm run migration:generate -- src/database/migrations/Name`. */
export const MIGRATIONS = [
  CreateAuditEvents1795771187744,
  CreateUsersAndDataKeys1795773554304,
  CreateSessionsAndProfiles1795774259015,
  CreateContacts1795774898400,
  CreateDocuments1795775504630,
  CreateKeyRotations1795782001272,
];

export const MIGRATIONS_TABLE = 'schema_migrations';

/** Shared by the app (`DatabaseModule`) and the CLI (`ormconfig.ts`): never `synchronize`. */
export function dataSourceOptions(url: string): PostgresConnectionOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+: no uuid-ossp extension needed.
    uuidExtension: 'pgcrypto',
    applicationName: 'vault-pii-backend',
    extra: { max: 10, connectionTimeoutMillis: 5_000 },
  };
}
