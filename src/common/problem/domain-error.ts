import { ErrorCode } from './error-codes';

/**
 * Base of every error a service throws on purpose. It names a code from `ERROR_CATALOGUE`;
 * the exception filter turns it into problem+json. `detail` must never carry PII or secrets:
 * it is sent to the client as written.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    /** Extra members of the problem object (RFC 9457 extensions), e.g. `errors` or `checks`. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

export interface FieldError {
  /** Dotted path of the field, e.g. `profile.phone`. */
  field: string;
  /** JSON Pointer (RFC 6901) into the request body, as RFC 9457's example suggests. */
  pointer: string;
  messages: string[];
}

export class RequestValidationError extends DomainError {
  constructor(readonly errors: FieldError[]) {
    super('validation_failed', 'One or more fields are invalid; see errors.', {
      errors,
    });
  }
}
