import { DynamicModule, Module } from '@nestjs/common';
import {
  ConfigurablePlaintextAdoptionModule,
  PLAINTEXT_ADOPTION_ASYNC_OPTIONS_TYPE,
  PLAINTEXT_ADOPTION_OPTIONS_TYPE,
} from './plaintext-adoption.module-definition';
import { PlaintextAdoptionJob } from './plaintext-adoption.job';

/**
 * Plaintext adoption's background pass (docs/plaintext-adoption.md#the-background-pass): provides
 * and exports `PlaintextAdoptionJob`, which re-seals an owner's legacy plaintext values when the key
 * vault unlocks their keyring. Needs the global `KeyVaultModule` (`SessionKeyVault`) and
 * `EncryptedColumnsModule` (`BlindIndexes`), and TypeORM's default `DataSource`.
 */
@Module({
  providers: [PlaintextAdoptionJob],
  exports: [PlaintextAdoptionJob],
})
export class PlaintextAdoptionModule extends ConfigurablePlaintextAdoptionModule {
  /**
   * The pass with options known up front.
   *
   * @example
   * PlaintextAdoptionModule.forRoot({ liveKeySql: new SqlKeyRotationStore().liveKeySql() })
   * @param options `liveKeySql` (the same query as `EncryptedColumnsModule`'s) is required;
   *   `batchRows` (500), `unlockRecheckMs` (10 minutes) and `observer` (metrics) are optional.
   */
  static override forRoot(
    options: typeof PLAINTEXT_ADOPTION_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * The pass with options from a factory, e.g. an observer the app provides.
   *
   * @example
   * PlaintextAdoptionModule.forRootAsync({
   *   inject: [AppMetrics],
   *   useFactory: (metrics: AppMetrics) => ({
   *     liveKeySql: new SqlKeyRotationStore().liveKeySql(),
   *     observer: metrics.plaintextAdoptionObserver(),
   *   }),
   * })
   * @param options `useFactory` + `inject` (+ `imports`), or `useClass` / `useExisting` of a
   *   `create()` factory; the result is validated at start-up.
   */
  static override forRootAsync(
    options: typeof PLAINTEXT_ADOPTION_ASYNC_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRootAsync(options);
  }
}
