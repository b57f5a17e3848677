import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppModule } from '../../../src/app.module';
import { AppConfig } from '../../../src/config/app-config';
import { DatabaseModule } from '../../../src/database/database.module';
import {
  dataSourceOptions,
  MIGRATIONS,
} from '../../../src/database/data-source-options';
import { CreateBenchPlainProfiles1899999999999 } from './create-plain-profiles.migration';
import { PlainProfileModule } from './plain-profile.controller';

/** `DatabaseModule` as production configures it, plus the twin's entity and table. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        const options = dataSourceOptions(config.databaseUrl as string);
        return {
          ...options,
          autoLoadEntities: true,
          migrations: [...MIGRATIONS, CreateBenchPlainProfiles1899999999999],
          migrationsRun: true,
          retryAttempts: 3,
          retryDelay: 1000,
        };
      },
    }),
  ],
})
class BenchDatabaseModule {}

/**
 * BENCH ONLY: the production root module (`AppModule.forRoot`) with its database module swapped
 * for one that also knows the plaintext twin, and the twin's route added. Nothing else differs.
 */
export function benchAppModule(config: AppConfig): DynamicModule {
  const root = AppModule.forRoot(config);
  const imports = root.imports ?? [];
  const at = imports.indexOf(DatabaseModule);
  if (at < 0)
    throw new Error(
      'bench: AppModule.forRoot no longer imports DatabaseModule; update bench/http/server/bench-app.module.ts',
    );
  return {
    ...root,
    imports: [
      ...imports.slice(0, at),
      BenchDatabaseModule,
      ...imports.slice(at + 1),
      PlainProfileModule,
    ],
  };
}
