import { EncryptionError } from '../errors';

/**
 * Encrypted data was touched with no keyring in the current context: a programming error (a
 * route or job without keys), so a 500, never a silent null or a ciphertext.
 */
export class KeyUnavailableError extends EncryptionError {
  constructor() {
    super(
      'key_unavailable',
      'The keys needed for this data are not available in this context.',
    );
  }
}

/** The session's vault entry is gone (expired, logged out, revoked): the client logs in again. */
export class SessionLockedError extends EncryptionError {
  constructor() {
    super(
      'session_locked',
      'This session is locked or has ended; log in again.',
    );
  }
}

/** The vault store failed (Redis down, timeout): fail closed with 503, never run without keys. */
export class VaultUnavailableError extends EncryptionError {
  constructor() {
    super(
      'vault_unavailable',
      'The session key store is unavailable; try again shortly.',
    );
  }
}
