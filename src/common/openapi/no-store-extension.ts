import { ApiExtension } from '@nestjs/swagger';

/**
 * Marks an operation whose success responses send `Cache-Control: no-store`; the document builder
 * turns the mark into the documented header and removes it.
 */
export const NO_STORE_EXTENSION = 'x-no-store';

export const ApiNoStore = (): MethodDecorator =>
  ApiExtension(NO_STORE_EXTENSION, true);
