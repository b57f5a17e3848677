import { DynamicModule, Module } from '@nestjs/common';
import {
  ConfigurableKeyRotationModule,
  KEY_ROTATION_ASYNC_OPTIONS_TYPE,
  KEY_ROTATION_OPTIONS_TYPE,
} from './key-rotation.module-definition';
import { KeyRotationJob } from './key-rotation.job';
import { KeyRotationRunner } from './key-rotation.runner';

/**
 * Key rotation's engine (docs/rotation.md): provides and exports `KeyRotationJob`, which runs a
 * rotation the app has started and resumes unfinished ones whenever the key vault unlocks a keyring
 * holding two versions. Needs the global `KeyVaultModule` (`SessionKeyVault`) and
 * `EncryptedColumnsModule` (`BlindIndexes`), and TypeORM's default `DataSource`.
 */
@Module({
  providers: [KeyRotationJob, KeyRotationRunner],
  exports: [KeyRotationJob],
})
export class KeyRotationModule extends ConfigurableKeyRotationModule {
  /**
   * Key rotation with options known up front.
   *
   * @example
   * KeyRotationModule.forRoot({ store: new SqlKeyRotationStore() })
   * @param options `store` is required; `participants` (non-column data) and `observer`
   *   (metrics) are optional.
   */
  static override forRoot(
    options: typeof KEY_ROTATION_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * Key rotation with options from a factory, e.g. a participant the app provides.
   *
   * @example
   * KeyRotationModule.forRootAsync({
   *   imports: [DocumentsModule],
   *   inject: [DocumentKeyRotation],
   *   useFactory: (documents: DocumentKeyRotation) => ({
   *     store: new SqlKeyRotationStore(),
   *     participants: [documents],
   *   }),
   * })
   * @param options `useFactory` + `inject` (+ `imports`), or `useClass` / `useExisting` of a
   *   `create()` factory.
   */
  static override forRootAsync(
    options: typeof KEY_ROTATION_ASYNC_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRootAsync(options);
  }
}
