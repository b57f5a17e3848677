import type { EncryptionErrorCode } from '@vault-pii/nest-encryption';

interface CatalogueEntry {
  status: number;
  title: string;
  /** One sentence: what the problem means (the problem type's page, `GET /problems/:type`). */
  description: string;
  /** One sentence: what the client should do about it. */
  action: string;
}

/**
 * Every machine-readable `code` a problem response can carry, with its HTTP status, title, and
 * what its page at `/problems/<type>` says it means and what to do. Services throw `DomainError`s
 * that name a code, the encryption library its `EncryptionError`s; only the exception filter knows
 * HTTP. Every library code must be here (the `satisfies` below), so a code the library adds fails
 * the typecheck until it is mapped.
 */
export const ERROR_CATALOGUE = {
  bad_request: {
    status: 400,
    title: 'Bad request',
    description:
      'The request could not be read: an aborted body, an unknown content encoding, or a request that is not valid HTTP.',
    action:
      'Fix the request and send it again; retrying it unchanged will not help.',
  },
  validation_failed: {
    status: 400,
    title: 'The request is not valid',
    description:
      'A field, query parameter or cursor failed validation, or the body has a field this route does not know; `errors` lists each field.',
    action:
      'Correct the fields named in `errors` (their `pointer` locates them in the body) and send the request again.',
  },
  malformed_json: {
    status: 400,
    title: 'The request body is not valid JSON',
    description:
      'The body could not be parsed as JSON, or its top level is neither an object nor an array.',
    action:
      'Send a well-formed JSON object with `Content-Type: application/json`.',
  },
  invalid_idempotency_key: {
    status: 400,
    title: 'The Idempotency-Key header is not valid',
    description:
      'The `Idempotency-Key` header is empty, longer than 255 characters, holds characters other than visible ASCII, or was sent more than once.',
    action:
      'Send one key per request: a quoted string or a bare token, such as a fresh UUID, and reuse it only to retry that same request.',
  },
  unauthorized: {
    status: 401,
    title: 'Authentication required',
    description:
      'The framework refused the request as unauthenticated without a more specific code.',
    action:
      'Send `Authorization: Bearer <accessToken>` with a token from login or refresh.',
  },
  session_locked: {
    status: 401,
    title: 'The session is locked; log in again',
    description:
      "The access token is valid but its session's data keys are no longer in the key vault: logged out, revoked, timed out, or the server restarted with an in-memory vault.",
    action:
      'Log in again with the password; refreshing the token will not help.',
  },
  invalid_credentials: {
    status: 401,
    title: 'Invalid credentials',
    description:
      'The email, password or recovery code is wrong; one answer covers all three, so none can be guessed separately.',
    action:
      'Check the credentials and try again; repeated failures lock the account for a while (429).',
  },
  invalid_token: {
    status: 401,
    title: 'Invalid or expired token',
    description:
      'The access token is missing, malformed, forged, expired or of the wrong type, or the refresh token is unknown, spent, revoked or expired.',
    action:
      'Refresh the token pair with the refresh token, or log in again if the refresh fails too.',
  },
  access_key_expired: {
    status: 401,
    title: 'The access key has expired',
    description:
      'The bearer token is an access key whose `expiresAt` has passed; it unlocks nothing any more.',
    action:
      'Create a new access key from a password session (`POST /v1/me/access-keys`) and give it to the integration.',
  },
  insufficient_scope: {
    status: 403,
    title: 'The access key does not grant this',
    description:
      'The access key lacks the scope this operation needs (the detail names it), or the operation is for password sessions only: account, password, keys, sessions, access keys.',
    action:
      'Use an access key created with the needed scope, or log in with the password for account operations.',
  },
  access_key_address_not_allowed: {
    status: 403,
    title: 'The access key may not be used from this address',
    description:
      "The request came with an access key from a client address outside the key's `allowedAddresses`.",
    action:
      'Call from an allowed address, or create a key whose `allowedAddresses` include this one.',
  },
  forbidden: {
    status: 403,
    title: 'Forbidden',
    description:
      "The framework refused the request without a more specific code (this API's own checks answer 404 instead).",
    action: 'Do not retry the request unchanged.',
  },
  not_found: {
    status: 404,
    title: 'Not found',
    description:
      "No such route or resource for you: unknown ids, malformed ids and other users' resources all answer this way.",
    action:
      'Check the path and the id; the resource may have been deleted or may have expired.',
  },
  method_not_allowed: {
    status: 405,
    title: 'Method not allowed',
    description: 'The route does not accept this HTTP method.',
    action: 'Use a method the route documents (see /docs).',
  },
  not_acceptable: {
    status: 406,
    title: 'Not acceptable',
    description:
      'The server cannot produce a response in a media type the `Accept` header allows.',
    action:
      'Accept `application/json` (and `application/problem+json` for errors).',
  },
  request_timeout: {
    status: 408,
    title: 'The request took too long to arrive',
    description:
      "The request headers did not arrive within the server's time limit.",
    action: 'Send the request again over a working connection.',
  },
  conflict: {
    status: 409,
    title: 'Conflict',
    description: 'Another request changed the same account at the same moment.',
    action: 'Retry the request; it will see the other change.',
  },
  email_taken: {
    status: 409,
    title: 'This email is already registered',
    description: 'An account with this email address already exists.',
    action: 'Log in with that account, or recover it with its recovery code.',
  },
  limit_reached: {
    status: 409,
    title: 'A limit on what one user may store is reached',
    description:
      'A per-user limit is reached (for example the number of contacts); `limit` names the setting and `max` its value.',
    action: 'Delete something you no longer need before adding more.',
  },
  rotation_in_progress: {
    status: 409,
    title: 'A key rotation is in progress',
    description:
      'A key rotation of this account is still running, or the write raced with one.',
    action: "Retry shortly; GET /v1/me shows the rotation's progress.",
  },
  idempotency_request_in_progress: {
    status: 409,
    title: 'A request with this Idempotency-Key is still being processed',
    description:
      'An earlier request with the same `Idempotency-Key` has not finished yet, so its outcome cannot be replayed and the request must not run twice.',
    action:
      "Wait for `Retry-After` seconds and retry with the same key and body: you then get the first request's outcome.",
  },
  payload_too_large: {
    status: 413,
    title: 'The request body is too large',
    description:
      'The body is larger than 100 KiB; the server closes the connection.',
    action: 'Send a smaller body on a new connection.',
  },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported media type',
    description:
      'The body is not `application/json`, or uses an unsupported charset or content encoding.',
    action:
      'Send the body as `application/json` in UTF-8 (gzip or deflate allowed).',
  },
  idempotency_key_reused: {
    status: 422,
    title: 'This Idempotency-Key was used for a different request',
    description:
      'The `Idempotency-Key` was already used within the last 24 hours with a different body on this route, or too many different bodies were tried with it.',
    action:
      'Use a new key for a new request; reuse a key only to retry exactly the same request.',
  },
  too_many_requests: {
    status: 429,
    title: 'Too many requests',
    description:
      'A rate limit refused the request: too many requests from one address, for one email, or too many failed passwords for one account.',
    action: 'Wait the number of seconds in `Retry-After` before trying again.',
  },
  request_header_fields_too_large: {
    status: 431,
    title: 'The request headers are too large',
    description:
      'The request line and headers together are larger than 16 KiB.',
    action: 'Send fewer or shorter headers (cookies included).',
  },
  internal_error: {
    status: 500,
    title: 'Internal server error',
    description:
      'Something unexpected failed on the server; it has been logged.',
    action: 'Retry later, and report the `requestId` if it persists.',
  },
  key_unavailable: {
    status: 500,
    title: 'The data keys are not available',
    description:
      'Encrypted data was touched where no keys were loaded: a programming error on the server, never a silent empty value.',
    action: 'Report the `requestId`; logging in again may help meanwhile.',
  },
  data_integrity_error: {
    status: 500,
    title: 'Stored data failed its integrity check',
    description:
      'A stored ciphertext or document failed authentication (tampered with, moved or truncated), so it is not returned; the event is logged and audited.',
    action: 'Report the `requestId`; retrying will not help.',
  },
  service_unavailable: {
    status: 503,
    title: 'Service unavailable',
    description:
      'The server cannot check a password right now: its queue is full, or the failure counter does not answer.',
    action:
      'Retry later, after `Retry-After` seconds when the response carries it.',
  },
  document_file_unavailable: {
    status: 503,
    title: "The document's file is not available here",
    description:
      "This instance cannot see the document's file (a volume not mounted or not shared); the document is kept.",
    action: 'Retry later.',
  },
  not_ready: {
    status: 503,
    title: 'The service is not ready',
    description:
      'GET /health/ready found a dependency down; `checks` says which.',
    action: 'Send traffic to another instance until this one is ready again.',
  },
  database_unavailable: {
    status: 503,
    title: 'The database is unavailable',
    description:
      'PostgreSQL cannot be reached or is not accepting connections.',
    action: 'Retry after the seconds in `Retry-After`.',
  },
  vault_unavailable: {
    status: 503,
    title: 'The session key store is unavailable',
    description:
      "The store holding the sessions' keys (Redis) does not answer.",
    action: 'Retry later.',
  },
  storage_unavailable: {
    status: 507,
    title: 'The document storage is full or not writable',
    description:
      'The documents volume is full, over quota, read-only or missing, or has too little free space left; nothing was kept.',
    action:
      'Retry after the seconds in `Retry-After`; an operator has to free space.',
  },
} as const satisfies Record<string, CatalogueEntry> &
  Record<EncryptionErrorCode, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

const CODE_BY_STATUS = new Map<number, ErrorCode>();
for (const [code, { status }] of Object.entries(ERROR_CATALOGUE) as [
  ErrorCode,
  { status: number },
][]) {
  if (!CODE_BY_STATUS.has(status)) CODE_BY_STATUS.set(status, code);
}

/** The generic code for a bare HTTP status (for framework errors that carry no code of ours). */
export function codeForStatus(status: number): ErrorCode {
  return (
    CODE_BY_STATUS.get(status) ??
    (status >= 500 ? 'internal_error' : 'bad_request')
  );
}

/** RFC 9457 `type`: a URI reference per code, relative to the API's origin. */
export function problemTypeFor(code: string): string {
  return `/problems/${code.replace(/_/g, '-')}`;
}

const CODE_BY_TYPE_SLUG = new Map<string, ErrorCode>(
  (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).map((code) => [
    code.replace(/_/g, '-'),
    code,
  ]),
);

/**
 * The code whose `type` is `/problems/<slug>`, or undefined: a Map, so `constructor` or
 * `__proto__` name nothing.
 */
export function codeForProblemType(slug: string): ErrorCode | undefined {
  return CODE_BY_TYPE_SLUG.get(slug);
}
