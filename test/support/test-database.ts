// Each e2e file's own database, on the server support/global-setup.ts provides: the test kit's.
export {
  createTestDatabase,
  withPgClient,
} from '@vault-pii/nest-encryption/testing';
export type { TestDatabase } from '@vault-pii/nest-encryption/testing';
