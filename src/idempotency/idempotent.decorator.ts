import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { ApiIdempotentReplays } from '../common/openapi/idempotent-extension';
import { ApiProblemResponses } from '../common/problem/api-problem-responses';
import {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_KEY_MAX_CHARACTERS,
  IDEMPOTENCY_REPLAYED_HEADER,
} from './idempotency-key-header';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { IDEMPOTENT_OPTIONS, IdempotentOptions } from './idempotent-options';

/**
 * docs/http-api.md#idempotency: the route accepts an optional `Idempotency-Key`; a retry with the
 * same key and body within 24 hours gets the first 2xx outcome again (with
 * `Idempotency-Replayed: true`) instead of running twice. Documents the header and the problems
 * it adds; place it above the route's own `@ApiProblemResponses(...)`.
 */
export function Idempotent(options: IdempotentOptions): MethodDecorator {
  return applyDecorators(
    SetMetadata(IDEMPOTENT_OPTIONS, options),
    UseInterceptors(IdempotencyInterceptor),
    ApiIdempotentReplays(),
    ApiHeader({
      name: IDEMPOTENCY_KEY_HEADER,
      required: false,
      description:
        `Optional (draft-ietf-httpapi-idempotency-key-header). A unique key per operation, 1 to ` +
        `${IDEMPOTENCY_KEY_MAX_CHARACTERS} visible ASCII characters, as a quoted string or bare. ` +
        `A retry with the same key and body within 24 hours returns the first success again, ` +
        `marked \`${IDEMPOTENCY_REPLAYED_HEADER}: true\`; another body answers 422, a retry while ` +
        `the first still runs 409.`,
      schema: {
        type: 'string',
        maxLength: IDEMPOTENCY_KEY_MAX_CHARACTERS + 2,
        example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
      },
    }),
    ApiProblemResponses(
      'invalid_idempotency_key',
      'idempotency_request_in_progress',
      'idempotency_key_reused',
    ),
  );
}
