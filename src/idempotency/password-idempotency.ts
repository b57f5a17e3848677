import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import type { StoredOutcome } from './idempotency-secrets';

/**
 * `@Idempotent({ callerSecret: 'password' })`: register and login
 * (docs/security.md#idempotency-records-for-register-and-login). Their only client secret is the
 * password, too weak for a fast HKDF, so the record is keyed by the `password/idempotency` branch
 * of the account's argon2id output instead: known to the flow only once it ran argon2id, and on a
 * replay only after a full credential check. This file is the contract between the interceptor
 * and `auth/`, so that `idempotency/` imports no feature.
 */

/**
 * Where a register or login hands the interceptor its `password/idempotency` secret. One per
 * request that carries an `Idempotency-Key`; the interceptor takes it at completion, or zeroes it
 * whatever happens.
 */
export class PasswordIdempotencySecretHolder {
  private secret: Buffer | undefined;

  /** Keeps `secret` (locked memory, now the holder's to zero); a second offer replaces the first. */
  offer(secret: Buffer): void {
    if (this.secret) zeroBuffer(this.secret);
    this.secret = secret;
  }

  /** The offered secret, now the caller's to zero; undefined when none was offered. */
  take(): Buffer | undefined {
    const secret = this.secret;
    this.secret = undefined;
    return secret;
  }

  zero(): void {
    if (this.secret) zeroBuffer(this.secret);
    this.secret = undefined;
  }
}

const HOLDER = Symbol('passwordIdempotencySecretHolder');

/** Attaches a holder to the request (the interceptor does, before the handler runs). */
export function attachPasswordIdempotencySecretHolder(
  request: object,
): PasswordIdempotencySecretHolder {
  const holder = new PasswordIdempotencySecretHolder();
  (request as Record<symbol, unknown>)[HOLDER] = holder;
  return holder;
}

/** The request's holder, or undefined when the request carries no usable `Idempotency-Key`. */
export function passwordIdempotencySecretHolderOf(
  request: object,
): PasswordIdempotencySecretHolder | undefined {
  const holder = (request as Record<symbol, unknown>)[HOLDER];
  return holder instanceof PasswordIdempotencySecretHolder ? holder : undefined;
}

/** Which password flow a record belongs to (for the resolver's audit event). */
export type PasswordIdempotentFlow = 'register' | 'login';

/** A replay of a completed register or login record, as the resolver is asked to check it. */
export interface PasswordReplayAttempt {
  flow: PasswordIdempotentFlow;
  /** The canonical email (the record's scope). */
  email: string;
  /** The password the replay presents. */
  password: string;
  /** The request (its address and id are audited). */
  request: object;
  /**
   * Tries the derived secret against the record: the stored answer when the request's fingerprint
   * under it matches, undefined when it does not. Does not keep or zero the secret.
   */
  open(secret: Buffer): StoredOutcome | undefined;
}

/**
 * Provided by `auth/` under `PASSWORD_REPLAY_RESOLVER`: derives the `password/idempotency` secret
 * the way a login checks a password (the account's failure counter, the argon2id queue, one
 * argon2id with the account's current salt and cost, a dummy one for an unknown email).
 */
export interface PasswordReplayResolver {
  /**
   * @returns `{ outcome }` when the password is the account's and opened the record; `stale` when
   *   the password is the account's but the record was sealed under another secret (the password
   *   was changed or recovered, or its cost upgraded, since): the key is then treated as absent.
   * @throws IdempotencyKeyReusedError (422) when the password is wrong or the email unknown;
   *   counted as a failed password check.
   * @throws TooManyRequestsError, LoginLimiterUnavailableError, ServiceBusyError as a login would.
   */
  resolve(
    attempt: PasswordReplayAttempt,
  ): Promise<{ outcome: StoredOutcome } | 'stale'>;
}

export const PASSWORD_REPLAY_RESOLVER = Symbol('PasswordReplayResolver');
