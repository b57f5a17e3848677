import { ConfigurableModuleBuilder } from '@nestjs/common';
import { KeyVaultModuleOptions } from './key-vault.options';

/** `isGlobal: true` makes `SessionKeyVault` injectable everywhere without importing the module. */
export interface KeyVaultModuleExtras {
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableKeyVaultModule,
  MODULE_OPTIONS_TOKEN: KEY_VAULT_MODULE_OPTIONS,
  OPTIONS_TYPE: KEY_VAULT_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: KEY_VAULT_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<KeyVaultModuleOptions>({
  moduleName: 'KeyVault',
})
  .setClassMethodName('forRoot')
  .setExtras<KeyVaultModuleExtras>(
    { isGlobal: false },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }),
  )
  .build();
