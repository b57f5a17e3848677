import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';

/**
 * TypeORM over `AppConfig.databaseUrl`. By the time the app is created that URL is set: either
 * `DATABASE_URL` or the embedded server that `main.ts` started. Migrations run at start-up.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        if (!config.databaseUrl) throw new Error('DatabaseModule needs AppConfig.databaseUrl');
        return { ...dataSourceOptions(config.databaseUrl), migrationsRun: true, retryAttempts: 3, retryDelay: 1000 };
      },
    }),
  ],
})
export class DatabaseModule {}
