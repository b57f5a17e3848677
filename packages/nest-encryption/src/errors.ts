/**
 * The codes of the errors the library throws on purpose, each one a condition the app reports to
 * its clients (README.md#errors-and-http). Adding a code is a breaking change for every app that
 * maps them.
 */
export type EncryptionErrorCode =
  | 'key_unavailable'
  | 'session_locked'
  | 'vault_unavailable'
  | 'data_integrity_error'
  | 'rotation_in_progress';

/**
 * Base of those errors: a stable `code` to map (to an HTTP status, a retry), and a `detail` that
 * may be shown to the client as written (it never carries values, keys or PII). Programming
 * errors (a where-clause on an encrypted column, an unbound transformer) are plain `Error`s.
 */
export abstract class EncryptionError extends Error {
  protected constructor(
    readonly code: EncryptionErrorCode,
    readonly detail: string,
  ) {
    super(detail);
    this.name = new.target.name;
  }
}
