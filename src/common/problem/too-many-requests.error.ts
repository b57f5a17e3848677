import type { RateLimitPolicy } from '../http/rate-limit-headers';
import { DomainError } from './domain-error';
import type { ErrorCode } from './error-codes';

/**
 * A refusal that tells the client when to come back: the exception filter sends `Retry-After`
 * with `retryAfterSeconds`, so every limiter and bounded queue answers the same way.
 */
export abstract class RetryLaterError extends DomainError {
  readonly retryAfterSeconds: number;

  protected constructor(
    code: ErrorCode,
    retryAfterSeconds: number,
    detail: string,
    /** e.g. `{ limit: 'DOCUMENT_CREATION_LIMIT' }`, naming the setting that said no. */
    extensions: Record<string, unknown>,
  ) {
    super(code, detail, extensions);
    // Whole seconds, at least 1: a client told "0" would retry at once and be refused again.
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/**
 * A rate limit said no (docs/security.md#rate-limits): 429 with `Retry-After`. A limit with a
 * quota per window names its `policy`: the filter then adds it to `RateLimit-Policy` and reports
 * it spent in `RateLimit` (`r=0`, `t` = `Retry-After`), which tells the caller nothing the
 * 429 and `Retry-After` do not. A bound without a window (one render at a time) names none.
 */
export class TooManyRequestsError extends RetryLaterError {
  constructor(
    retryAfterSeconds: number,
    detail = 'Too many requests; try again later.',
    extensions: Record<string, unknown> = {},
    readonly policy?: RateLimitPolicy,
  ) {
    super('too_many_requests', retryAfterSeconds, detail, extensions);
  }
}

/**
 * The service is too busy to take this request now (a bounded queue is full, or the request
 * waited too long in it): 503 `service_unavailable` with `Retry-After`, never a hang.
 */
export class ServiceBusyError extends RetryLaterError {
  constructor(
    retryAfterSeconds: number,
    detail = 'The service is busy; try again shortly.',
    extensions: Record<string, unknown> = {},
  ) {
    super('service_unavailable', retryAfterSeconds, detail, extensions);
  }
}
