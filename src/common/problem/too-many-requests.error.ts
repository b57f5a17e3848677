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
  ) {
    super('too_many_requests', detail);
    // Whole seconds, at least 1: a client told "0" would retry at once and be refused again.
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}
