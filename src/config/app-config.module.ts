import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';

/** Makes the validated `AppConfig` injectable everywhere. */
@Global()
@Module({})
export class AppConfigModule {
  /** @param config built once by `loadAppConfig()` before the application is created. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [{ provide: AppConfig, useValue: config }],
      exports: [AppConfig],
    };
  }
}
