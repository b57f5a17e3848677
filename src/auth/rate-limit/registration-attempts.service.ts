import { Logger } from '@nestjs/common';
import { TooManyRequestsError } from '../../common/problem/too-many-requests.error';
import { AttemptCount, AttemptCounter } from './attempt-counters';
import { RateLimitKeys } from './rate-limit-keys';
import { StoreOutageLog } from '@vault-pii/nest-encryption/redis';

/**
 * Names the limit in the 429's `limit` member and in `RateLimit-Policy`. Only its 429 reports it
 * (docs/security.md#rate-limits): a remaining count on every answer would tell anyone whether
 * someone tried to register an email this window.
 */
export const REGISTER_EMAIL_LIMIT_POLICY = 'REGISTER_EMAIL_LIMIT';

export interface RegistrationLimits {
  /** `REGISTER_EMAIL_LIMIT`: register attempts per email address per window; the next is 429. */
  maxAttempts: number;
  /** `REGISTER_EMAIL_WINDOW`, fixed from the first attempt. */
  windowMs: number;
}

/**
 * Per-email limit on registration (docs/security.md#rate-limits): every attempt for one address
 * counts — created, `email_taken` or refused for a weak password alike — before any lookup, so
 * neither the 409 that tells an address has an account nor the argon2id call of a new one can be
 * asked for one email more than `maxAttempts` times per window, from however many client addresses.
 *
 * Fails open (logged once): registration needs no Redis otherwise, and the per-address limit
 * fails open too (`FailOpenThrottlerStorage`); no password is checked here, so an outage opens no
 * guessing window.
 */
export class RegistrationAttemptsService {
  private readonly outage = new StoreOutageLog(
    new Logger(RegistrationAttemptsService.name),
    {
      down: (reason) =>
        `registration attempt counter unavailable (${reason}): not limiting registrations per email until it answers`,
      up: 'registration attempt counter answering again',
    },
  );

  constructor(
    private readonly limits: RegistrationLimits,
    private readonly counter: AttemptCounter,
    private readonly keys: RateLimitKeys,
  ) {}

  /**
   * Counts a register attempt for `email` (any spelling of one address is one count).
   * @throws TooManyRequestsError (`limit: 'REGISTER_EMAIL_LIMIT'`) once over the limit.
   */
  async admit(email: string): Promise<void> {
    let attempts: AttemptCount;
    try {
      attempts = await this.counter.increment(
        this.keys.forRegistration(email),
        this.limits.windowMs,
      );
      this.outage.answered();
    } catch (error) {
      this.outage.failed(error);
      return;
    }
    if (attempts.count > this.limits.maxAttempts) {
      throw new TooManyRequestsError(
        attempts.msUntilReset / 1000,
        'Too many registration attempts for this email address; try again later.',
        { limit: REGISTER_EMAIL_LIMIT_POLICY },
        {
          name: REGISTER_EMAIL_LIMIT_POLICY,
          quota: this.limits.maxAttempts,
          windowSeconds: this.limits.windowMs / 1000,
        },
      );
    }
  }
}
