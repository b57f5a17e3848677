import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { KeyRotationModuleOptions } from './key-rotation.options';

export const {
  ConfigurableModuleClass: ConfigurableKeyRotationModule,
  MODULE_OPTIONS_TOKEN: KEY_ROTATION_MODULE_OPTIONS,
  OPTIONS_TYPE: KEY_ROTATION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: KEY_ROTATION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<KeyRotationModuleOptions>({
  moduleName: 'KeyRotation',
})
  .setClassMethodName('forRoot')
  .build();
