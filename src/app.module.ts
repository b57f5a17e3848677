import {
  DynamicModule,
  MiddlewareConsumer,
  Module,
  NestModule,
  RequestMethod,
} from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { UnexpectedBodyInterceptor } from './common/http/unexpected-body.interceptor';
import type { DestinationStream } from 'pino';
import { JsonBodyMiddleware } from './common/http/json-body.middleware';
import { RateLimitHeadersMiddleware } from './common/http/rate-limit-headers';
import { createValidationPipe } from './common/http/validation-pipe';
import { LoggingModule } from './common/logging/logging.module';
import { AppMetrics } from './common/metrics/app-metrics';
import { MetricsModule } from './common/metrics/metrics.module';
import { DependencyOutagesModule } from './common/problem/dependency-outages.module';
import { ProblemDetailsFilter } from './common/problem/problem-details.filter';
import { ProblemPagesModule } from './common/problem/problem-pages.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { AppConfig } from './config/app-config';
import { ContactsModule } from './contacts/contacts.module';
import { DocumentsModule } from './documents/documents.module';
import { ScheduleModule } from '@nestjs/schedule';
import { ProfileModule } from './profile/profile.module';
import { AppConfigModule } from './config/app-config.module';
import { DatabaseModule } from './database/database.module';
import {
  EncryptedColumnsModule,
  KeyContextMiddleware,
  KeyVaultModule,
  SqlKeyRotationStore,
} from '@vault-pii/nest-encryption';
import { HealthModule } from './health/health.module';
import { KeyRotationModule } from './key-rotation/key-rotation.module';
import { MeModule } from './me/me.module';
import { AccessKeyManagementModule } from './me/access-keys/access-key-management.module';
import { ServerKeys } from './config/server-keys';
import { AeadAlgorithm } from '@vault-pii/nest-encryption/crypto';

export interface AppModuleOptions {
  logDestination?: DestinationStream;
}

@Module({})
export class AppModule implements NestModule {
  /**
   * @param config validated configuration whose `databaseUrl` is set (external or embedded).
   * @param options.logDestination where JSON log lines go instead of stdout.
   */
  static forRoot(
    config: AppConfig,
    options: AppModuleOptions = {},
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule.forRoot(options.logDestination),
        DependencyOutagesModule,
        MetricsModule,
        DatabaseModule,
        EncryptedColumnsModule.forRootAsync({
          isGlobal: true,
          inject: [AppConfig, ServerKeys, AppMetrics],
          useFactory: (
            appConfig: AppConfig,
            serverKeys: ServerKeys,
            metrics: AppMetrics,
          ) => ({
            observer: metrics.encryptedColumnsObserver(),
            algorithm:
              appConfig.encryptionAlgorithm === 'aes-256-gcm'
                ? AeadAlgorithm.Aes256Gcm
                : AeadAlgorithm.XChaCha20Poly1305,
            serverBlindIndexKey: serverKeys.blindIndexKey,
            // An encrypted write commits only while the wrapped key it sealed under exists.
            liveKeySql: new SqlKeyRotationStore().liveKeySql(),
          }),
        }),
        KeyVaultModule.forRootAsync({
          isGlobal: true,
          inject: [AppConfig, ServerKeys, AppMetrics],
          useFactory: (
            appConfig: AppConfig,
            serverKeys: ServerKeys,
            metrics: AppMetrics,
          ) => ({
            observer: metrics.vaultObserver(),
            vaultKey: serverKeys.vaultKey,
            idleTtlSeconds: appConfig.sessionIdleTtlSeconds,
            maxTtlSeconds: appConfig.sessionMaxTtlSeconds,
            store: appConfig.redisUrl
              ? {
                  type: 'redis',
                  url: appConfig.redisUrl,
                  keyPrefix: `${appConfig.redisKeyPrefix}vault:`,
                  commandTimeoutMs: appConfig.redisCommandTimeoutMs,
                }
              : { type: 'memory' },
          }),
        }),
        AuditModule,
        AuthModule,
        MeModule,
        AccessKeyManagementModule,
        ProfileModule,
        ContactsModule,
        ScheduleModule.forRoot(),
        DocumentsModule,
        KeyRotationModule,
        // After the features: it imports DocumentsModule, which would otherwise be scanned first.
        HealthModule,
        ProblemPagesModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        { provide: APP_INTERCEPTOR, useClass: UnexpectedBodyInterceptor },
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // After LoggingModule's middleware, so a body error is logged with its request id; the key
    // scope opens before anything can attach a keyring and is zeroed when the response ends.
    consumer
      .apply(KeyContextMiddleware, JsonBodyMiddleware)
      .forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
    // A limiter inside a service (`DocumentCreationLimit`) reports its headers on the response
    // this scope names. Only where one runs: every async context scope costs every request.
    consumer.apply(RateLimitHeadersMiddleware).forRoutes({
      path: 'documents',
      method: RequestMethod.POST,
      version: '1',
    });
  }
}
