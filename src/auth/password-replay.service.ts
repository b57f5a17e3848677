import { Injectable } from '@nestjs/common';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { IdempotencyKeyReusedError } from '../idempotency/idempotency.errors';
import type { StoredOutcome } from '../idempotency/idempotency-secrets';
import type {
  PasswordReplayAttempt,
  PasswordReplayResolver,
} from '../idempotency/password-idempotency';
import { UsersService } from '../users/users.service';
import { AccountKeysService } from './account-keys.service';
import { InvalidCredentialsError } from './auth.errors';
import { CredentialCheckService } from './credential-check.service';

/**
 * Opens a register's or login's idempotency record on a replay
 * (docs/security.md#idempotency-records-for-register-and-login): the secret that keys it is the
 * `password/idempotency` branch of the account's argon2id output, so it is derived exactly as a
 * login checks the password: admitted by the account's failure counter, through the argon2id
 * queue, one argon2id with the account's current salt and cost (a dummy one for an unknown
 * email). A wrong password or an unknown email stays counted and answers 422; a replay costs
 * what its first request did, and guessing through it is limited like login.
 */
@Injectable()
export class PasswordReplayService implements PasswordReplayResolver {
  constructor(
    private readonly users: UsersService,
    private readonly keys: AccountKeysService,
    private readonly credentials: CredentialCheckService,
  ) {}

  async resolve(
    attempt: PasswordReplayAttempt,
  ): Promise<{ outcome: StoredOutcome } | 'stale'> {
    try {
      return await this.credentials.check(
        {
          email: attempt.email,
          event: attempt.flow === 'login' ? 'auth.login' : 'auth.register',
          audit: attempt.request,
        },
        async () => {
          // After the register committed, its account is found like a login's: by the email's
          // blind index. A deleted one is an unknown email.
          const account = await this.users.findLoginAccount(attempt.email);
          if (!account) {
            await this.keys.spendDummyVerification(attempt.password);
            return { userId: null };
          }
          const unlocked = await this.keys.verifyPasswordWithIdempotencySecret(
            account,
            attempt.password,
          );
          if (!unlocked) return { userId: account.id };
          zeroBuffer(unlocked.kek);
          try {
            const outcome = attempt.open(unlocked.idempotencySecret);
            // The right password that does not open the record: it was sealed under another
            // secret (password changed or recovered, cost upgraded) or for another body.
            return {
              userId: account.id,
              verified: outcome ? { outcome } : ('stale' as const),
            };
          } finally {
            zeroBuffer(unlocked.idempotencySecret);
          }
        },
      );
    } catch (error) {
      // Counted and audited as a failed password check; answered as a key reused with another body.
      if (error instanceof InvalidCredentialsError)
        throw new IdempotencyKeyReusedError();
      throw error;
    }
  }
}
