import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiSecurity } from '@nestjs/swagger';
import {
  ACCESS_KEY_AUTH_NAME,
  ACCESS_KEY_SCOPE_EXTENSION,
  BEARER_AUTH_NAME,
} from '../openapi/bearer-auth';
import { ApiProblemResponses } from '../problem/api-problem-responses';
import { ApiRateLimitPolicies } from '../openapi/rate-limit-headers';
import {
  ACCESS_KEY_RATE_LIMIT_POLICY,
  ACCESS_KEY_SCOPE,
  type AccessKeyScope,
} from './access-key-scopes';

/**
 * What authentication itself can answer on any protected route: a bad or expired token, a
 * session whose keys are gone from the vault, the vault unreachable (docs/sessions.md and
 * docs/security.md), and an access key that is expired, used from an address it does not allow,
 * or short of the route's scope (docs/access-keys.md).
 */
export const AUTHENTICATION_ERRORS = [
  'invalid_token',
  'session_locked',
  'access_key_expired',
  'insufficient_scope',
  'access_key_address_not_allowed',
  'vault_unavailable',
] as const;

export interface AuthenticatedOptions {
  /**
   * The scope an access key needs to call this route. Without it, the route is for password
   * sessions only, and an access key gets 403 `insufficient_scope`.
   */
  accessKeyScope?: AccessKeyScope;
}

/**
 * Marks a route as needing an access token, in the OpenAPI document: the bearer scheme and the
 * authentication problem responses; with `accessKeyScope`, also the access-key scheme, the scope
 * (`x-access-key-scope`) and the per-key rate limit's 429. The global guard already refuses every
 * route that is not `@Public()`, and reads the scope from here. Place it above the route's own
 * `@ApiProblemResponses(...)` so that, within a status, the route's codes are listed first.
 */
export function Authenticated(
  options: AuthenticatedOptions = {},
): MethodDecorator {
  const scope = options.accessKeyScope;
  if (!scope)
    return applyDecorators(
      ApiBearerAuth(BEARER_AUTH_NAME),
      ApiProblemResponses(...AUTHENTICATION_ERRORS),
    );
  return applyDecorators(
    SetMetadata(ACCESS_KEY_SCOPE, scope),
    ApiBearerAuth(BEARER_AUTH_NAME),
    ApiSecurity(ACCESS_KEY_AUTH_NAME),
    ApiExtension(ACCESS_KEY_SCOPE_EXTENSION, scope),
    // Sent to access-key callers only (sessions have no per-request limit here).
    ApiRateLimitPolicies(ACCESS_KEY_RATE_LIMIT_POLICY),
    ApiProblemResponses(...AUTHENTICATION_ERRORS, 'too_many_requests'),
  );
}
