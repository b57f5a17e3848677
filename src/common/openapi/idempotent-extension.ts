import { ApiExtension } from '@nestjs/swagger';

/**
 * Marks an operation that takes an `Idempotency-Key` (docs/http-api.md#idempotency); the document
 * builder documents `Idempotency-Replayed` on its success responses and removes the mark.
 */
export const IDEMPOTENT_EXTENSION = 'x-idempotent';

export const ApiIdempotentReplays = (): MethodDecorator =>
  ApiExtension(IDEMPOTENT_EXTENSION, true);
