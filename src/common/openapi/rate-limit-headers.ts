import { DECORATORS, type OpenAPIObject } from '@nestjs/swagger';
import {
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
} from '../http/rate-limit-headers';

/**
 * Operation extension listing the policies a route reports on every response (`RateLimit-Policy`
 * names). A limit reported only when it refuses (per account, per email) is not listed: its 429
 * names it.
 */
export const RATE_LIMIT_POLICIES_EXTENSION = 'x-rate-limit-policies';

/**
 * Marks a route as rate limited by `policies` (docs/http-api.md#rate-limit-headers). Applied more
 * than once (the per-address guard, then the route's own limit), the names join. The headers
 * themselves are added to every response of such an operation by `documentRateLimitHeaders`, once
 * the document is built: that way it does not matter which response decorators run before this one.
 */
export function ApiRateLimitPolicies(...policies: string[]): MethodDecorator {
  return (_target, _key, descriptor) => {
    const handler = descriptor.value as object;
    const extensions = (Reflect.getMetadata(
      DECORATORS.API_EXTENSION,
      handler,
    ) ?? {}) as Record<string, unknown>;
    const earlier = (extensions[RATE_LIMIT_POLICIES_EXTENSION] ??
      []) as string[];
    Reflect.defineMetadata(
      DECORATORS.API_EXTENSION,
      {
        ...extensions,
        [RATE_LIMIT_POLICIES_EXTENSION]: [
          ...new Set([...earlier, ...policies]),
        ],
      },
      handler,
    );
  };
}

const HEADER_COMPONENTS = {
  [RATE_LIMIT_POLICY_HEADER]: {
    description:
      'The quota policies of this route (draft-ietf-httpapi-ratelimit-headers): `"<setting>";q=<quota>;w=<window seconds>`, one per limit, named after the setting that bounds it.',
    schema: { type: 'string', example: '"AUTH_RATE_LIMIT";q=100;w=60' },
  },
  [RATE_LIMIT_HEADER]: {
    description:
      'What is left of each policy for this client: `"<setting>";r=<remaining>;t=<seconds until the window ends>`. On a 429 the limit that refused is listed with `r=0` (also `LOGIN_FAILURE_LIMIT` or `REGISTER_EMAIL_LIMIT`, which are reported only then). `ACCESS_KEY_RATE_LIMIT` is reported only on answers to an access key.',
    schema: { type: 'string', example: '"AUTH_RATE_LIMIT";r=42;t=18' },
  },
} as const;

/**
 * Adds `RateLimit-Policy` and `RateLimit` (as shared `components.headers`) to every response of
 * every operation marked with `@ApiRateLimitPolicies`.
 */
export function documentRateLimitHeaders(document: OpenAPIObject): void {
  let used = false;
  for (const pathItem of Object.values(document.paths)) {
    for (const operation of Object.values(pathItem)) {
      const op = operation as {
        responses?: Record<string, { headers?: Record<string, unknown> }>;
        [RATE_LIMIT_POLICIES_EXTENSION]?: unknown;
      };
      if (!op?.[RATE_LIMIT_POLICIES_EXTENSION] || !op.responses) continue;
      used = true;
      for (const response of Object.values(op.responses)) {
        response.headers = {
          ...response.headers,
          [RATE_LIMIT_POLICY_HEADER]: {
            $ref: `#/components/headers/${RATE_LIMIT_POLICY_HEADER}`,
          },
          [RATE_LIMIT_HEADER]: {
            $ref: `#/components/headers/${RATE_LIMIT_HEADER}`,
          },
        };
      }
    }
  }
  if (!used) return;
  document.components = {
    ...document.components,
    headers: { ...document.components?.headers, ...HEADER_COMPONENTS },
  };
}
