import { DomainError } from '../common/problem/domain-error';
import { RetryLaterError } from '../common/problem/too-many-requests.error';

/** 400: the header is present but not a valid key (docs/http-api.md#idempotency). */
export class InvalidIdempotencyKeyError extends DomainError {
  constructor(detail: string) {
    super('invalid_idempotency_key', detail);
  }
}

/**
 * 409 with `Retry-After`: the first request with this key is still running (its lease is alive).
 * Retrying after it ends gets its outcome.
 */
export class IdempotencyRequestInProgressError extends RetryLaterError {
  constructor(retryAfterSeconds: number) {
    super(
      'idempotency_request_in_progress',
      retryAfterSeconds,
      'A request with this Idempotency-Key is still being processed; retry later.',
      {},
    );
  }
}

/** 422: the key already names a request with another body (or another route's request). */
export class IdempotencyKeyReusedError extends DomainError {
  constructor() {
    super(
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request body; use a new key.',
    );
  }
}
