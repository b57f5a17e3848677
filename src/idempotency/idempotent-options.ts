import type { PasswordIdempotentFlow } from './password-idempotency';

export const IDEMPOTENT_OPTIONS = Symbol('idempotentOptions');

/**
 * Where the secret comes from that keys a caller's records (and only the caller holds):
 * - `session`: an authenticated route; the scope is the session, the secret its client share
 *   (carried by the session's access and refresh tokens, the same across refreshes).
 * - `bodyField`: a public route whose body carries a high-entropy secret (the refresh token, the
 *   recovery code): the scope is its SHA-256, the secret the value itself. Never a password: a
 *   key from a fast hash of a low-entropy secret could be guessed offline.
 * - `password`: register and login (body fields `email` and `password`): the scope is the
 *   canonical email, the secret the `password/idempotency` branch of the account's argon2id
 *   output, handed over by the flow (`password-idempotency.ts`), so a guess costs one argon2id.
 */
export type IdempotentOptions =
  | { callerSecret: 'session' }
  | { callerSecret: 'bodyField'; field: string }
  | { callerSecret: 'password'; flow: PasswordIdempotentFlow };
