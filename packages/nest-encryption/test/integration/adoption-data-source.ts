import { DataSource } from 'typeorm';
import { LegacyContact } from './adoption-entities';

/**
 * The data-source module given to `nest-encryption adoption status -d` in the integration tests,
 * as an app gives its `ormconfig.ts`: a DataSource, not initialised, over the test's database.
 */
export default new DataSource({
  type: 'postgres',
  url: process.env.ADOPTION_TEST_DATABASE_URL,
  entities: [LegacyContact],
});
