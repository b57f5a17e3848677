import { Logger } from '@nestjs/common';
import { TooManyRequestsError } from '../../common/problem/too-many-requests.error';
import { LoginLimiterUnavailableError } from '../auth.errors';
import { AttemptCount, AttemptCounter } from './attempt-counters';
import { RateLimitKeys } from './rate-limit-keys';
import { StoreOutageLog } from '@vault-pii/nest-encryption/redis';

/**
 * Names the limit in a 429's `limit` member and in `RateLimit-Policy`. Only its 429 reports it
 * (docs/security.md#rate-limits): a remaining count on every answer would tell anyone who types
 * an email how many failed logins others made on it this window.
 */
export const LOGIN_FAILURE_LIMIT_POLICY = 'LOGIN_FAILURE_LIMIT';

export interface LoginAttemptLimits {
  /** Failed logins an account may have per window; the next attempt answers 429. */
  maxFailures: number;
  windowMs: number;
}

/** A login let through by `LoginAttemptsService.admit`: it counts as failed unless it succeeds. */
export interface AdmittedLoginAttempt {
  readonly accountKey: string;
}

/**
 * Per-account limit on failed logins (docs/security.md#rate-limits): `maxFailures` per window, then
 * 429 with `Retry-After` until the window ends — even with the right password. Every password or
 * recovery-code check counts here, through `CredentialCheckService`, not only the login form's.
 * Unknown emails are counted exactly like real accounts, so a lockout tells nothing about which
 * emails exist.
 *
 * Every attempt is counted *before* the password is checked and taken back if it succeeds (or
 * was never checked: a password check the argon2id queue refuses is not a guess).
 * Counting only after a failure would let parallel guesses all pass the check before any of
 * them is recorded; this way at most `maxFailures` guesses per window ever reach argon2, and a
 * locked account costs no KDF at all.
 *
 * Fails closed: if the counter cannot be read or written (Redis down), the login answers 503.
 * Failing open would be wrong here: a right password still answers differently (200, or the
 * vault's 503) from a wrong one (401), so an outage would become an unlimited guessing window.
 */
export class LoginAttemptsService {
  private readonly outage = new StoreOutageLog(
    new Logger(LoginAttemptsService.name),
    {
      down: (reason) =>
        `login attempt counter unavailable (${reason}): logins answer 503 until it answers`,
      up: 'login attempt counter answering again',
    },
  );

  constructor(
    private readonly limits: LoginAttemptLimits,
    private readonly counter: AttemptCounter,
    private readonly keys: RateLimitKeys,
  ) {}

  /**
   * Counts an attempt on `email`'s account and lets it through, before any lookup or KDF.
   * @throws TooManyRequestsError when the account has used up its failures in this window.
   * @throws LoginLimiterUnavailableError when the counter store does not answer.
   */
  async admit(email: string): Promise<AdmittedLoginAttempt> {
    const accountKey = this.keys.forAccount(email);
    let attempts: AttemptCount;
    try {
      attempts = await this.counter.increment(accountKey, this.limits.windowMs);
      this.outage.answered();
    } catch (error) {
      this.outage.failed(error);
      throw new LoginLimiterUnavailableError();
    }
    if (attempts.count > this.limits.maxFailures) {
      throw new TooManyRequestsError(
        attempts.msUntilReset / 1000,
        'Too many failed logins for this account; try again later.',
        { limit: LOGIN_FAILURE_LIMIT_POLICY },
        {
          name: LOGIN_FAILURE_LIMIT_POLICY,
          quota: this.limits.maxFailures,
          windowSeconds: this.limits.windowMs / 1000,
        },
      );
    }
    return { accountKey };
  }

  /**
   * The attempt no longer counts: the credential was right, or it was never checked (the argon2id
   * queue turned it away, `ServiceBusyError`). A store failure here is only logged: the worst
   * outcome is one extra counted failure.
   */
  async takeBack(attempt: AdmittedLoginAttempt): Promise<void> {
    try {
      await this.counter.decrement(attempt.accountKey);
      this.outage.answered();
    } catch (error) {
      this.outage.failed(error);
    }
  }
}
