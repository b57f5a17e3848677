import { ConfigurableModuleBuilder } from '@nestjs/common';
import { EncryptedColumnsOptions } from './encrypted-columns.options';

/** `isGlobal: true` makes `BlindIndexes` injectable everywhere without importing the module. */
export interface EncryptedColumnsModuleExtras {
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableEncryptedColumnsModule,
  MODULE_OPTIONS_TOKEN: ENCRYPTED_COLUMNS_MODULE_OPTIONS,
  OPTIONS_TYPE: ENCRYPTED_COLUMNS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: ENCRYPTED_COLUMNS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<EncryptedColumnsOptions>({
  moduleName: 'EncryptedColumns',
})
  .setClassMethodName('forRoot')
  .setExtras<EncryptedColumnsModuleExtras>(
    { isGlobal: false },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }),
  )
  .build();
