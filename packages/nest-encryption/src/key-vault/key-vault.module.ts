import { DynamicModule, Module } from '@nestjs/common';
import { KeyContextMiddleware } from './key-context.middleware';
import {
  ConfigurableKeyVaultModule,
  KEY_VAULT_ASYNC_OPTIONS_TYPE,
  KEY_VAULT_MODULE_OPTIONS,
  KEY_VAULT_OPTIONS_TYPE,
} from './key-vault.module-definition';
import {
  KeyVaultModuleOptions,
  RESOLVED_KEY_VAULT_OPTIONS,
  resolveKeyVaultOptions,
} from './key-vault.options';
import { SessionKeyVault } from './session-key-vault';
import { createVaultStore } from './stores/create-vault-store';
import { VAULT_STORE } from './vault-store';

/**
 * The session key vault (docs/design.md#the-vault) as a Nest module: provides `SessionKeyVault`
 * and `KeyContextMiddleware`. Shutdown (`OnApplicationShutdown` of `SessionKeyVault`) stops the
 * store's timers, zeroes every buffer it holds and the vault key, and closes the Redis client.
 */
@Module({
  providers: [
    {
      provide: RESOLVED_KEY_VAULT_OPTIONS,
      useFactory: resolveKeyVaultOptions,
      inject: [KEY_VAULT_MODULE_OPTIONS],
    },
    {
      provide: VAULT_STORE,
      useFactory: createVaultStore,
      inject: [RESOLVED_KEY_VAULT_OPTIONS],
    },
    SessionKeyVault,
    KeyContextMiddleware,
  ],
  exports: [SessionKeyVault, KeyContextMiddleware],
})
export class KeyVaultModule extends ConfigurableKeyVaultModule {
  /**
   * Registers the vault with options known up front.
   *
   * @example
   * KeyVaultModule.forRoot({ vaultKey: secrets.vaultKey, store: { type: 'redis', url }, isGlobal: true })
   * @param options `vaultKey` (32 bytes) is required; TTLs default to 30 min idle / 12 h absolute
   *   and the store to in-memory. `isGlobal` exports `SessionKeyVault` to every module.
   */
  static override forRoot(
    options: typeof KEY_VAULT_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * Registers the vault with options from a factory (e.g. from the app's config).
   *
   * @example
   * KeyVaultModule.forRootAsync({
   *   inject: [ServerKeys],
   *   useFactory: (keys: ServerKeys) => ({ vaultKey: keys.vaultKey }),
   * })
   * @param options `useFactory` + `inject` (+ `imports`), or `useClass` / `useExisting` of a
   *   `create()` factory; the result is validated and completed with defaults at start-up.
   */
  static override forRootAsync(
    options: typeof KEY_VAULT_ASYNC_OPTIONS_TYPE,
  ): DynamicModule {
    return super.forRootAsync(options);
  }
}

export type { KeyVaultModuleOptions };
