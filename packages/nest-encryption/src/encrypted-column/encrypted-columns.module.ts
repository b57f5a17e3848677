import { DynamicModule, Module, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BlindIndexes } from './blind-index';
import {
  ConfigurableEncryptedColumnsModule,
  ENCRYPTED_COLUMNS_ASYNC_OPTIONS_TYPE,
  ENCRYPTED_COLUMNS_MODULE_OPTIONS,
  ENCRYPTED_COLUMNS_OPTIONS_TYPE,
} from './encrypted-columns.module-definition';
import { EncryptedColumnsOptions } from './encrypted-columns.options';
import {
  installEncryptedColumns,
  warnIfNoPlaintextAdoptionPass,
} from './install-encrypted-columns';

/**
 * `@EncryptedColumn`/`@BlindIndex` on the app's TypeORM DataSource (docs/design.md#blind-indexes),
 * with this app's options: the AEAD for new ciphertexts, the server blind-index key, and the
 * key-version write guard's query (see `installEncryptedColumns`). Installed while the app's
 * providers are created, so before any `onModuleInit` can query. Exports `BlindIndexes`, for
 * searches. Once the app has started, warns if a column adopts plaintext while no
 * `PlaintextAdoptionModule` runs the background pass (docs/plaintext-adoption.md#the-background-pass).
 */
@Module({
  providers: [
    {
      provide: BlindIndexes,
      useFactory: installEncryptedColumns,
      inject: [DataSource, ENCRYPTED_COLUMNS_MODULE_OPTIONS],
    },
  ],
  exports: [BlindIndexes],
})
export class EncryptedColumnsModule
  extends ConfigurableEncryptedColumnsModule
  implements OnApplicationBootstrap
{
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  onApplicationBootstrap(): void {
    warnIfNoPlaintextAdoptionPass(this.dataSource);
  }

  /**
   * Installs the encrypted columns with options known up front.
   *
   * @example
   * EncryptedColumnsModule.forRoot({
   *   serverBlindIndexKey: keys.blindIndexKey,
   *   liveKeySql: 'SELECT 1 FROM user_data_keys WHERE user_id = $1 AND key_version = $2 FOR KEY SHARE',
   *   isGlobal: true,
   * })
   * @param options `liveKeySql` is required; `algorithm` defaults to XChaCha20-Poly1305;
   *   `serverBlindIndexKey` is required when an entity has a server-keyed `@BlindIndex`.
   *   `isGlobal` exports `BlindIndexes` to every module.
   */
  static override forRoot(
    options: typeof ENCRYPTED_COLUMNS_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * Installs the encrypted columns with options from a factory (e.g. from the app's config).
   *
   * @example
   * EncryptedColumnsModule.forRootAsync({
   *   inject: [ServerKeys],
   *   useFactory: (keys: ServerKeys) => ({ serverBlindIndexKey: keys.blindIndexKey, liveKeySql }),
   * })
   * @param options `useFactory` + `inject` (+ `imports`), or `useClass` / `useExisting` of a
   *   `create()` factory; the result is validated and completed with defaults at start-up.
   */
  static override forRootAsync(
    options: typeof ENCRYPTED_COLUMNS_ASYNC_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRootAsync(options);
  }
}

export type { EncryptedColumnsOptions };
