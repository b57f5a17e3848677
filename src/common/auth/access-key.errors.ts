import { DomainError } from '../problem/domain-error';
import type { AccessKeyScope } from './access-key-scopes';

/** An access key past its `expiresAt` (401; its row stays until the hourly purge). */
export class AccessKeyExpiredError extends DomainError {
  constructor() {
    super('access_key_expired', 'The access key has expired.');
  }
}

/** An access key used from outside its `allowedAddresses` (403). */
export class AccessKeyAddressNotAllowedError extends DomainError {
  constructor() {
    super(
      'access_key_address_not_allowed',
      'This access key may not be used from this client address.',
    );
  }
}

/**
 * An access key on a route it has no scope for (403, RFC 6750 §3.1 `insufficient_scope`), or on a
 * route for password sessions only (`needed` undefined).
 */
export class InsufficientScopeError extends DomainError {
  constructor(readonly needed: AccessKeyScope | undefined) {
    super(
      'insufficient_scope',
      needed
        ? `This access key does not have the scope ${needed}.`
        : 'Access keys cannot call this operation; it needs a password session.',
    );
  }
}
