import type { INestApplication } from '@nestjs/common';
import { documentRateLimitHeaders } from './rate-limit-headers';
import {
  DocumentBuilder,
  SwaggerModule,
  type HeaderObject,
  type OpenAPIObject,
  type OperationObject,
  type ReferenceObject,
} from '@nestjs/swagger';
import { FieldErrorDto, ProblemDetails } from '../problem/problem-details';
import {
  ACCESS_KEY_AUTH_NAME,
  ACCESS_KEY_SCOPE_EXTENSION,
  BEARER_AUTH_NAME,
} from './bearer-auth';
import { IDEMPOTENT_EXTENSION } from './idempotent-extension';
import { NO_STORE_EXTENSION } from './no-store-extension';

const DESCRIPTION = `Each user's personal data is encrypted under keys that only their password unlocks.

Errors are RFC 9457 \`application/problem+json\` (schema \`ProblemDetails\`) with a machine-readable \`code\` to branch on; each problem's \`type\` (\`/problems/validation-failed\`) is a page saying what it means and what to do. Every response carries \`X-Request-Id\`.

## Quick start

1. \`POST /v1/auth/register\` with \`{ "email": "…", "password": "…" }\`. The answer holds your **recovery code**: store it now. It is shown only once, and it is the only way back into your data if the password is lost.
2. \`POST /v1/auth/login\` with the same email and password: an \`accessToken\` (valid for \`expiresIn\` seconds) and a \`refreshToken\`.
3. Click **Authorize** and paste the \`accessToken\`: requests then send \`Authorization: Bearer <accessToken>\`.
4. \`GET /v1/me/profile\`: your profile, decrypted with your session's keys.
5. Before the access token expires, \`POST /v1/auth/refresh\` with the \`refreshToken\`: a new pair (each refresh token works once). A 401 \`session_locked\` means log in again.

## Machines: access keys

A server-to-server integration uses an **access key** instead of a password: \`POST /v1/me/access-keys\` (from a logged-in session, with the password) answers a \`vpk_…\` secret, shown once, for the scopes you grant (\`contacts:read\`, …) until \`expiresAt\`. Send it as \`Authorization: Bearer vpk_…\`. An operation that accepts access keys names the scope it needs in \`x-access-key-scope\`; every other operation answers an access key 403 \`insufficient_scope\`.`;

/** Every tag an operation uses, in the order Swagger UI lists them. */
const API_TAGS: readonly (readonly [name: string, description: string])[] = [
  [
    'auth',
    'Register, log in, refresh tokens, log out, change or recover the password, and manage your sessions',
  ],
  [
    'me',
    'Your account: its details, deletion, data key rotation, and your encrypted profile',
  ],
  [
    'access-keys',
    'Keys for machines: a secret that unlocks your data for the scopes you grant, without your password',
  ],
  ['contacts', 'Your contacts, every field stored encrypted'],
  [
    'documents',
    'PDFs rendered from your data, stored encrypted, deleted when they expire',
  ],
  ['health', 'Liveness and readiness probes for orchestrators (unversioned)'],
  [
    'problems',
    'The pages that problem `type` URIs name: what each error means and what to do (unversioned, HTML)',
  ],
];

/** Response headers shared by many responses, as `#/components/headers/<name>`. */
const SHARED_HEADERS: Record<string, HeaderObject> = {
  'X-Request-Id': {
    description:
      "The request's id: the caller's own `X-Request-Id` when it is 8 to 128 characters of `A-Z a-z 0-9 . _ : -`, otherwise a new UUID. Problem bodies repeat it as `requestId`; quote it when reporting a problem.",
    required: true,
    schema: { type: 'string', example: '3f1c9a52-5c1d-4a8e-9d0b-6f6f2f0f4b11' },
  },
  'Cache-Control': {
    description:
      'The response carries personal data, tokens, a recovery code or a problem: no cache may keep it.',
    required: true,
    schema: { type: 'string', enum: ['no-store'] },
  },
  'Idempotency-Replayed': {
    description:
      'Sent only when this answer is the replay of an earlier request with the same `Idempotency-Key` and body: the operation did not run again.',
    required: false,
    schema: { type: 'string', enum: ['true'] },
  },
};

const sharedHeader = (name: string): ReferenceObject => ({
  $ref: `#/components/headers/${name}`,
});

/**
 * The OpenAPI document of the app, as `/docs-json` serves it and `npm run openapi` writes it to
 * docs/openapi.json: one function, so the two cannot differ. Needs only the app's routes (it
 * works on an app created with `preview: true`, whose providers never start).
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Vault-backed PII API')
    .setDescription(DESCRIPTION)
    .setVersion('1')
    // Relative: the origin the document was fetched from, wherever the API is deployed.
    .addServer('/', 'This server (the origin serving this document)')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'The `accessToken` of POST /v1/auth/login or POST /v1/auth/refresh',
      },
      BEARER_AUTH_NAME,
    )
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'vpk_',
        description:
          'An access key (`vpk_…`) from POST /v1/me/access-keys, for machines: it works only on operations that name a scope in `x-access-key-scope`, and only if the key holds that scope',
      },
      ACCESS_KEY_AUTH_NAME,
    );
  for (const [name, description] of API_TAGS) builder.addTag(name, description);
  const document = SwaggerModule.createDocument(app, builder.build(), {
    extraModels: [ProblemDetails, FieldErrorDto],
  });
  addResponseHeaders(document);
  documentRateLimitHeaders(document);
  describeAccessKeyScopes(document);
  return document;
}

/**
 * Says in each protected operation's description whether an access key may call it and with which
 * scope (Swagger UI shows descriptions, not `x-` extensions): the `x-access-key-scope` the
 * operation declares, or "password sessions only".
 */
function describeAccessKeyScopes(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as unknown[]) {
      if (!isOperation(operation)) continue;
      const bearer = operation.security?.some(
        (requirement) => BEARER_AUTH_NAME in requirement,
      );
      if (!bearer) continue;
      const scope = operation[ACCESS_KEY_SCOPE_EXTENSION];
      const line =
        typeof scope === 'string'
          ? `**Access keys:** accepted with the scope \`${scope}\`.`
          : '**Access keys:** not accepted (403 `insufficient_scope`); a password session only.';
      operation.description = operation.description
        ? `${operation.description}\n\n${line}`
        : line;
    }
  }
}

/**
 * `X-Request-Id` on every response (the request-id middleware sends it on all of them, errors
 * included), and `Cache-Control: no-store` on every problem response (the exception filter sets
 * it) and on the success responses of `x-no-store` operations; `Idempotency-Replayed` on the
 * success responses of `x-idempotent` operations.
 */
function addResponseHeaders(document: OpenAPIObject): void {
  document.components = {
    ...document.components,
    headers: { ...document.components?.headers, ...SHARED_HEADERS },
  };
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as unknown[]) {
      if (!isOperation(operation)) continue;
      const noStore = operation[NO_STORE_EXTENSION] === true;
      const idempotent = operation[IDEMPOTENT_EXTENSION] === true;
      delete operation[NO_STORE_EXTENSION];
      delete operation[IDEMPOTENT_EXTENSION];
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!response || '$ref' in response) continue;
        const isProblem = Object.keys(response.content ?? {}).includes(
          'application/problem+json',
        );
        const isSuccess = /^2\d\d$/.test(status);
        const headers: Record<string, HeaderObject | ReferenceObject> = {
          'X-Request-Id': sharedHeader('X-Request-Id'),
        };
        if (isProblem || (noStore && isSuccess))
          headers['Cache-Control'] = sharedHeader('Cache-Control');
        if (idempotent && isSuccess)
          headers['Idempotency-Replayed'] = sharedHeader(
            'Idempotency-Replayed',
          );
        response.headers = {
          ...headers,
          ...response.headers,
        };
      }
    }
  }
}

function isOperation(
  value: unknown,
): value is OperationObject & Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    'responses' in value &&
    typeof value.responses === 'object'
  );
}

/** docs/openapi.json's text: two-space indents, the document's own key order, a final newline. */
export function serializeOpenApiDocument(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
