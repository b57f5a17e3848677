import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ModuleMetadata } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { AppModule } from '../../src/app.module';
import { configureApp } from '../../src/app.setup';
import { AppConfig, loadAppConfig } from '../../src/config/app-config';
import { createTestDatabase, TestDatabase } from './test-database';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  database: TestDatabase;
  dataSource: DataSource;
  /** Every JSON log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Environment on top of the test defaults (a random master key, a temporary DATA_DIR, high AUTH_RATE_LIMIT and REGISTER_EMAIL_LIMIT). */
  env?: Record<string, string>;
  /**
   * Share another app's database (a second instance, a restart with other settings). The owner
   * of the database drops it; pass the same APP_MASTER_KEY in `env`.
   */
  sharedDatabase?: TestDatabase;
  /** Extra controllers/providers, for probing framework behaviour through a real route. */
  extra?: Pick<ModuleMetadata, 'controllers' | 'providers' | 'imports'>;
}

/**
 * The real application (same modules, same `configureApp`) on its own fresh database, with
 * migrations run, and its logs captured in memory.
 */
export async function createTestApp(
  options: TestAppOptions = {},
): Promise<TestApp> {
  const database = options.sharedDatabase ?? (await createTestDatabase());
  const dataDir = mkdtempSync(join(tmpdir(), 'e2e-data-'));
  const config = loadAppConfig({
    NODE_ENV: 'test',
    APP_MASTER_KEY: randomBytes(32).toString('base64'),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    // Suites register and log in many users from one address: the per-address limit of
    // production (100/min) would cut them short. Rate-limit tests set their own small limits.
    AUTH_RATE_LIMIT: '100000',
    // Likewise, bad-input suites send one email many times; rate-limit tests set their own.
    REGISTER_EMAIL_LIMIT: '100000',
    ...options.env,
    DATABASE_URL: database.url,
  });
  const logs: Record<string, unknown>[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });

  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot(config, { logDestination }),
      ...(options.extra?.imports ?? []),
    ],
    controllers: options.extra?.controllers,
    providers: options.extra?.providers,
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    bufferLogs: true,
  });
  configureApp(app);
  await app.init();

  return {
    app,
    config,
    database,
    dataSource: app.get(DataSource),
    logs,
    async close() {
      await app.close();
      if (!options.sharedDatabase) await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
