import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { PlaintextAdoptionModuleOptions } from './plaintext-adoption.options';

export const {
  ConfigurableModuleClass: ConfigurablePlaintextAdoptionModule,
  MODULE_OPTIONS_TOKEN: PLAINTEXT_ADOPTION_MODULE_OPTIONS,
  OPTIONS_TYPE: PLAINTEXT_ADOPTION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: PLAINTEXT_ADOPTION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<PlaintextAdoptionModuleOptions>({
  moduleName: 'PlaintextAdoption',
})
  .setClassMethodName('forRoot')
  .build();
