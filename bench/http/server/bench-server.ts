/**
 * BENCH ONLY entry point: `src/main.ts` as production runs it (same Nest options, same
 * `configureApp`, graceful SIGTERM), serving `benchAppModule` — the production app plus the
 * plaintext twin of the profile route. Needs DATABASE_URL (the bench creates a database).
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { configureApp } from '../../../src/app.setup';
import { loadAppConfig } from '../../../src/config/app-config';
import { benchAppModule } from './bench-app.module';

async function main(): Promise<void> {
  const config = loadAppConfig(process.env);
  if (!config.databaseUrl)
    throw new Error('bench server: DATABASE_URL is required');
  const app = await NestFactory.create<NestExpressApplication>(
    benchAppModule(config),
    {
      bufferLogs: true,
      bodyParser: false,
      abortOnError: false,
    },
  );
  configureApp(app);
  await app.listen(config.port, '127.0.0.1');
  process.stderr.write(`bench server listening on :${config.port}\n`);

  const shutdown = async () => {
    await app.close();
    // A normal exit, so that --cpu-prof writes its profile.
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench server failed: ${(error as Error)?.stack ?? String(error)}\n`,
  );
  process.exit(1);
});
