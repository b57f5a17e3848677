import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { BEARER_AUTH_NAME } from '../openapi/bearer-auth';
import { ApiProblemResponses } from '../problem/api-problem-responses';

/**
 * What authentication itself can answer on any protected route: a bad or expired token, a
 * session whose keys are gone from the vault, the vault unreachable (docs/sessions.md and
 * docs/security.md).
 */
export const AUTHENTICATION_ERRORS = [
  'invalid_token',
  'session_locked',
  'vault_unavailable',
] as const;

/**
 * Marks a route as needing an access token, in the OpenAPI document: the bearer scheme and the
 * authentication problem responses. The global guard already refuses every route that is not
 * `@Public()`; this says so to the reader and to the document. Place it above the route's own
 * `@ApiProblemResponses(...)` so that, within a status, the route's codes are listed first.
 */
export function Authenticated(): MethodDecorator {
  return applyDecorators(
    ApiBearerAuth(BEARER_AUTH_NAME),
    ApiProblemResponses(...AUTHENTICATION_ERRORS),
  );
}
