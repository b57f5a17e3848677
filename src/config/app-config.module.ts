import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';
import { ServerKeys } from './server-keys';

/** Makes the validated `AppConfig`, and the server keys derived from it, injectable everywhere. */
@Global()
@Module({})
export class AppConfigModule {
  /** @param config built once by `loadAppConfig()` before the application is created. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [{ provide: AppConfig, useValue: config }, ServerKeys],
      exports: [AppConfig, ServerKeys],
    };
  }
}
