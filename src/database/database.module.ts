import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { DatabaseOutageProbe } from './database-outage-probe';
import { dataSourceOptions } from './data-source-options';
import { runMigrationsWithLock } from './migrate-with-lock';

/**
 * TypeORM over `AppConfig.databaseUrl`. By the time the app is created that URL is set: either
 * `DATABASE_URL` or the embedded server that `main.ts` started. Migrations run at start-up,
 * under an advisory lock so that instances starting together do not race.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        if (!config.databaseUrl)
          throw new Error('DatabaseModule needs AppConfig.databaseUrl');
        return {
          ...dataSourceOptions(config.databaseUrl),
          autoLoadEntities: true,
          migrationsRun: false,
          retryAttempts: 3,
          retryDelay: 1000,
        };
      },
      dataSourceFactory: async (options) => {
        const dataSource = await new DataSource(options!).initialize();
        try {
          await runMigrationsWithLock(dataSource);
        } catch (error) {
          await dataSource.destroy();
          throw error;
        }
        return dataSource;
      },
    }),
  ],
  providers: [DatabaseOutageProbe],
})
export class DatabaseModule {}
