import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import {
  dataSourceOptions,
  ENTITY_SOURCES,
} from './src/database/data-source-options';
import { EmbeddedPostgres } from '@vault-pii/nest-encryption/embedded-postgres';

/**
 * TypeORM CLI data source (`npm run migration:generate|migration:run|migration:revert`).
 * Uses `DATABASE_URL`, or else starts the same embedded server as `npm start` (stopped again
 * when the CLI exits). It needs no `APP_MASTER_KEY`: migrations touch no secrets.
 */
async function createCliDataSource(): Promise<DataSource> {
  let url = process.env.DATABASE_URL;
  if (!url) {
    const dataDir = resolve(process.env.DATA_DIR ?? './.data');
    const embedded = await EmbeddedPostgres.start({
      baseDir: join(dataDir, 'postgres'),
      database: 'vault',
    });
    url = embedded.url;
  }
  return new DataSource({
    ...dataSourceOptions(url),
    entities: ENTITY_SOURCES.map((pattern) => join(__dirname, pattern)),
  });
}

export default createCliDataSource();
