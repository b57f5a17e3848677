// First: when tracing is on, OpenTelemetry must patch http, express, pg and ioredis before they load.
import { tracing } from './common/tracing/start-tracing';
import 'reflect-metadata';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pino from 'pino';
import { AppModule } from './app.module';
import { prettyTransport } from './common/logging/logging.module';
import { configureApp } from './app.setup';
import {
  AppConfig,
  ConfigValidationError,
  loadAppConfig,
} from './config/app-config';
import { removeSecretsFromEnvironment } from './config/secret-environment';
import { EmbeddedPostgres } from '@vault-pii/nest-encryption/embedded-postgres';
import {
  launchingProcesses,
  stopSurvivingLaunchers,
  watchLaunchingProcesses,
} from './common/process/launching-processes';

/** A shutdown that takes longer than this (a stuck request, a hung store) is cut short. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  // Taken first, so a launcher that is already gone by the time the app listens is noticed too.
  const launchers = launchingProcesses();
  // (.env, if any, was read by the first import, which needed the tracing variables.)
  const config = loadConfigOrExit();
  // Read once, above; from here on no library and no child process finds them
  // (docs/operations.md#secrets-in-the-environment).
  removeSecretsFromEnvironment(process.env);
  const log = pino({
    level: config.logLevel,
    base: { service: 'vault-pii-backend' },
    ...(config.logPretty ? { transport: prettyTransport() } : {}),
  }).child({ context: 'Bootstrap' });

  let embedded: EmbeddedPostgres | undefined;
  if (!config.databaseUrl) {
    try {
      embedded = await EmbeddedPostgres.start({
        baseDir: join(config.dataDir, 'postgres'),
        database: 'vault',
        log: (message) => log.info(message),
      });
    } catch (error) {
      log.fatal(
        `the embedded PostgreSQL could not start: ${(error as Error).message}`,
      );
      process.exit(1);
    }
  }

  let app: NestExpressApplication;
  try {
    app = await NestFactory.create<NestExpressApplication>(
      AppModule.forRoot(
        embedded ? config.withDatabaseUrl(embedded.url) : config,
      ),
      { bufferLogs: true, bodyParser: false, abortOnError: false },
    );
    configureApp(app);
    await app.listen(config.port);
  } catch (error) {
    log.fatal(
      {
        err: {
          type: (error as Error)?.name,
          message: (error as Error)?.message,
        },
      },
      'start-up failed',
    );
    await embedded?.stop();
    process.exit(1);
  }

  for (const warning of config.startupWarnings) log.warn(warning);
  log.info(
    {
      port: config.port,
      database: embedded ? 'embedded' : 'external',
      tracing: tracing ? 'otlp' : 'off',
    },
    `listening on :${config.port}`,
  );

  let stopping = false;
  const shutdown = async (
    cause: { signal: NodeJS.Signals } | { launcherEnded: string },
  ) => {
    if (stopping) return;
    stopping = true;
    log.info(cause, 'shutting down: draining requests');
    setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    try {
      await app.close();
      // The spans of the requests just drained, exported before the process ends.
      await tracing?.shutdown();
      await embedded?.stop();
      log.info('shutdown complete');
      process.exit(0);
    } catch (error) {
      log.error({ err: { type: (error as Error)?.name } }, 'shutdown failed');
      process.exit(1);
    }
  };
  // shutdown() handles its own failures and ends the process.
  process.once('SIGTERM', (signal) => void shutdown({ signal }));
  process.once('SIGINT', (signal) => void shutdown({ signal }));
  // A process manager that stops `npm start` or `npm run start:prod` signals npm's pid alone (and
  // SIGKILL reaches no one else): the app stops, with its embedded PostgreSQL, once the npm, shell
  // or `nest start` process that launched it has gone.
  watchLaunchingProcesses(launchers, (ended) => {
    void shutdown({ launcherEnded: `${ended.command} (pid ${ended.pid})` });
    stopSurvivingLaunchers(launchers);
  });
}

function loadConfigOrExit(): AppConfig {
  try {
    return loadAppConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      process.stderr.write(`${error.message}\nThe service did not start.\n`);
      process.exit(1);
    }
    throw error;
  }
}

void main();
