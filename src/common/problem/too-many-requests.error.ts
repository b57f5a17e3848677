import { DomainError } from './domain-error';

/**
 * A rate limit said no (docs/security.md#rate-limits). The exception filter sends `Retry-After`
 * with `retryAfterSeconds`, so every limiter answers the same way.
 */
export class TooManyRequestsError extends DomainError {
  readonly retryAfterSeconds: number;

  constructor(
    retryAfterSeconds: number,
    detail = 'Too many requests; try again later.',
    /** e.g. `{ limit: 'DOCUMENT_CREATION_LIMIT' }`, naming the setting that said no. */
    extensions: Record<string, unknown> = {},
  ) {
    super('too_many_requests', detail, extensions);
    // Whole seconds, at least 1: a client told "0" would retry at once and be refused again.
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/**
 * The service is too busy to take this request now (a bounded queue is full, or the request
 * waited too long in it): 503 `service_unavailable` with `Retry-After`, never a hang.
 */
export class ServiceBusyError extends DomainError {
  readonly retryAfterSeconds: number;

  constructor(
    retryAfterSeconds: number,
    detail = 'The service is busy; try again shortly.',
    extensions: Record<string, unknown> = {},
  ) {
    super('service_unavailable', detail, extensions);
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}
