import type { EncryptionErrorCode } from '@vault-pii/nest-encryption';

interface CatalogueEntry {
  status: number;
  title: string;
}

/**
 * Every machine-readable `code` a problem response can carry, with its HTTP status and title.
 * Services throw `DomainError`s that name a code, the encryption library its `EncryptionError`s;
 * only the exception filter knows HTTP. Every library code must be here (the `satisfies` below),
 * so a code the library adds fails the typecheck until it is mapped.
 */
export const ERROR_CATALOGUE = {
  bad_request: { status: 400, title: 'Bad request' },
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_json: { status: 400, title: 'The request body is not valid JSON' },
  invalid_idempotency_key: {
    status: 400,
    title: 'The Idempotency-Key header is not valid',
  },
  unauthorized: { status: 401, title: 'Authentication required' },
  session_locked: { status: 401, title: 'The session is locked; log in again' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  invalid_token: { status: 401, title: 'Invalid or expired token' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  request_timeout: {
    status: 408,
    title: 'The request took too long to arrive',
  },
  conflict: { status: 409, title: 'Conflict' },
  email_taken: { status: 409, title: 'This email is already registered' },
  limit_reached: {
    status: 409,
    title: 'A limit on what one user may store is reached',
  },
  rotation_in_progress: { status: 409, title: 'A key rotation is in progress' },
  idempotency_request_in_progress: {
    status: 409,
    title: 'A request with this Idempotency-Key is still being processed',
  },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  idempotency_key_reused: {
    status: 422,
    title: 'This Idempotency-Key was used for a different request',
  },
  too_many_requests: { status: 429, title: 'Too many requests' },
  request_header_fields_too_large: {
    status: 431,
    title: 'The request headers are too large',
  },
  internal_error: { status: 500, title: 'Internal server error' },
  key_unavailable: { status: 500, title: 'The data keys are not available' },
  data_integrity_error: {
    status: 500,
    title: 'Stored data failed its integrity check',
  },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  document_file_unavailable: {
    status: 503,
    title: "The document's file is not available here",
  },
  not_ready: { status: 503, title: 'The service is not ready' },
  database_unavailable: {
    status: 503,
    title: 'The database is unavailable',
  },
  vault_unavailable: {
    status: 503,
    title: 'The session key store is unavailable',
  },
  storage_unavailable: {
    status: 507,
    title: 'The document storage is full or not writable',
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
