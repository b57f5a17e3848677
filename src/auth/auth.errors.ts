import { DomainError } from '../common/problem/domain-error';

/**
 * Wrong password, unknown email, wrong recovery code: one answer for all
 * (docs/security.md#unknown-emails).
 */
export class InvalidCredentialsError extends DomainError {
  constructor() {
    super(
      'invalid_credentials',
      'The email, password or recovery code is not correct.',
    );
  }
}

/** A bearer or refresh token that is malformed, forged, expired, spent or revoked. */
export class InvalidTokenError extends DomainError {
  constructor(detail = 'The token is invalid, expired or revoked.') {
    super('invalid_token', detail);
  }
}

export class EmailTakenError extends DomainError {
  constructor() {
    super('email_taken', 'An account with this email already exists.');
  }
}

/** Two changes to the same account raced; the loser retries (nothing was lost). */
export class ConcurrentAccountChangeError extends DomainError {
  constructor() {
    super(
      'conflict',
      'The account was changed by another request at the same time; try again.',
    );
  }
}

/**
 * The failed-login counter (Redis) does not answer: password and recovery-code checks stop rather
 * than go unlimited.
 */
export class LoginLimiterUnavailableError extends DomainError {
  constructor() {
    super(
      'service_unavailable',
      'Password checks are temporarily unavailable; try again shortly.',
    );
  }
}
