import { Injectable } from '@nestjs/common';
import { AuditContext, AuditLogService } from '../audit/audit-log.service';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../common/problem/too-many-requests.error';
import type { VerifiedPasswordKeys } from '@vault-pii/nest-encryption';
import type { User } from '../users/user.entity';
import { AccountKeysService } from './account-keys.service';
import { InvalidCredentialsError } from './auth.errors';
import {
  AdmittedLoginAttempt,
  LoginAttemptsService,
} from './rate-limit/login-attempts.service';

/** The flows that check a password or recovery code; a refused check is audited under its event. */
export type CredentialCheckEvent =
  | 'auth.login'
  | 'auth.register'
  | 'auth.password_change'
  | 'auth.recovery'
  | 'account.delete'
  | 'keys.rotate'
  | 'access_key.create';

/** What one argon2id check of an account's password needs. */
export type PasswordAccount = Pick<
  User,
  'id' | 'authVerifier' | 'kdfSalt' | 'kdfParams'
>;

export interface CredentialCheck {
  /** The account's login email: names its failure counter, shared by every flow. */
  email: string;
  event: CredentialCheckEvent;
  audit: AuditContext;
  /** The account, when the caller already knows it (a signed-in user); audited on a lockout. */
  userId?: string;
}

/**
 * What a check found: `verified` (what the credential unlocked) when it was right; otherwise the
 * account it was tried on, if any, for the audit event.
 */
export interface CheckOutcome<T> {
  userId: string | null;
  verified?: T;
}

/**
 * The one path every credential check takes — login, password change, account deletion, key
 * rotation and recovery (docs/security.md#rate-limits): admitted by the account's failure counter
 * first (a locked account answers 429 with `Retry-After` at once, even with the right credential,
 * and costs no KDF), then checked, then taken back off the counter if right, or left counted,
 * audited as a failure and answered 401 (or taken back off the counter when the argon2id queue
 * refused it, 503: nothing was checked). One counter per account for all five flows, so a stolen
 * access token gets no more guesses than a login form does, and guesses anywhere lock every flow.
 */
@Injectable()
export class CredentialCheckService {
  constructor(
    private readonly keys: AccountKeysService,
    private readonly attempts: LoginAttemptsService,
    private readonly audit: AuditLogService,
  ) {}

  /**
   * A signed-in user confirms their password (password change, deletion, key rotation).
   * @returns the password's KEK, the caller's to zero.
   * @throws TooManyRequestsError, LoginLimiterUnavailableError, InvalidCredentialsError
   */
  async confirmPassword(
    user: PasswordAccount & Pick<User, 'email'>,
    password: string,
    event: CredentialCheckEvent,
    audit: AuditContext,
  ): Promise<Buffer> {
    const { kek } = await this.checkPassword(
      { email: user.email, event, audit, userId: user.id },
      password,
      () => Promise.resolve(user),
    );
    return kek;
  }

  /**
   * One argon2id call whether or not `findAccount` finds the account
   * (docs/security.md#unknown-emails); the lookup runs only once the attempt is admitted.
   * @returns the account and its password's KEK (the caller's to zero).
   */
  checkPassword<A extends PasswordAccount>(
    check: CredentialCheck,
    password: string,
    findAccount: () => Promise<A | null>,
  ): Promise<{ account: A; kek: Buffer }> {
    return this.checkPasswordWith(
      check,
      password,
      findAccount,
      async (account) => {
        const kek = await this.keys.verifyPassword(account, password);
        return kek && { kek };
      },
    );
  }

  /**
   * `checkPassword` that also returns the `password/idempotency` branch of the same argon2id
   * output (a login or register with an `Idempotency-Key`; docs/security.md#idempotency-records).
   * @returns the account, its password's KEK and that secret (the caller's to zero).
   */
  checkPasswordWithIdempotencySecret<A extends PasswordAccount>(
    check: CredentialCheck,
    password: string,
    findAccount: () => Promise<A | null>,
  ): Promise<{ account: A } & VerifiedPasswordKeys> {
    return this.checkPasswordWith(check, password, findAccount, (account) =>
      this.keys.verifyPasswordWithIdempotencySecret(account, password),
    );
  }

  private checkPasswordWith<A extends PasswordAccount, K extends object>(
    check: CredentialCheck,
    password: string,
    findAccount: () => Promise<A | null>,
    verify: (account: A) => Promise<K | undefined>,
  ): Promise<{ account: A } & K> {
    return this.check(check, async () => {
      const account = await findAccount();
      if (!account) {
        await this.keys.spendDummyVerification(password);
        return { userId: null };
      }
      const unlocked = await verify(account);
      return {
        userId: account.id,
        verified: unlocked && { account, ...unlocked },
      };
    });
  }

  /**
   * Admits the attempt, runs `verify` (lookup and KDF), and settles the count.
   * @throws TooManyRequestsError when the account is locked (nothing else runs).
   * @throws LoginLimiterUnavailableError when the counter does not answer (fails closed).
   * @throws InvalidCredentialsError when `verify` found nothing to unlock.
   * @throws ServiceBusyError when the argon2id queue turned the check away (it does not count).
   */
  async check<T>(
    check: CredentialCheck,
    verify: () => Promise<CheckOutcome<T>>,
  ): Promise<T> {
    let attempt: AdmittedLoginAttempt;
    try {
      attempt = await this.attempts.admit(check.email);
    } catch (error) {
      if (error instanceof TooManyRequestsError) await this.auditLocked(check);
      throw error;
    }
    let outcome: CheckOutcome<T>;
    try {
      outcome = await verify();
    } catch (error) {
      // The argon2id queue turned the check away: no credential was tested, so it is no guess.
      if (error instanceof ServiceBusyError)
        await this.attempts.takeBack(attempt);
      throw error;
    }
    const { userId, verified } = outcome;
    if (verified === undefined) {
      await this.audit.record(check.event, 'failure', userId, check.audit);
      throw new InvalidCredentialsError();
    }
    await this.attempts.takeBack(attempt);
    return verified;
  }

  // Login keeps its own event (no user id: a lockout must not tell whether the email exists);
  // the other flows record their event as failed.
  private auditLocked(check: CredentialCheck): Promise<void> {
    return check.event === 'auth.login'
      ? this.audit.record('auth.login_locked', 'failure', null, check.audit)
      : this.audit.record(
          check.event,
          'failure',
          check.userId ?? null,
          check.audit,
        );
  }
}
