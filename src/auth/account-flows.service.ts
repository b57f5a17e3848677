import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { PG_UNIQUE_VIOLATION } from '../database/plain-sql';
import { AuditContext, AuditLogService } from '../audit/audit-log.service';
import { ServiceBusyError } from '../common/problem/too-many-requests.error';
import {
  InvalidCryptoInputError,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import { KeyContext, Keyring } from '@vault-pii/nest-encryption';
import { Profile } from '../profile/profile.entity';
import { UserDataKey } from '../users/user-data-key.entity';
import { User } from '../users/user.entity';
import { AccessKeyWraps } from './access-keys/access-key-wraps';
import { UsersService } from '../users/users.service';
import type { PasswordIdempotencySecretHolder } from '../idempotency/password-idempotency';
import { AccountKeysService, PasswordMaterial } from './account-keys.service';
import {
  ConcurrentAccountChangeError,
  EmailTakenError,
  InvalidCredentialsError,
} from './auth.errors';
import { CredentialCheckService } from './credential-check.service';
import { SessionService, TokenPair } from './sessions/session.service';

export interface ProfileFields {
  fullName?: string | null;
  dateOfBirth?: string | null;
  phone?: string | null;
  address?: string | null;
  nationalId?: string | null;
}

const FIRST_KEY_VERSION = 1;

/**
 * The account lifecycle in docs/crypto.md and docs/sessions.md over the key hierarchy: register,
 * login, password change, recovery (deletion is `MeModule`'s). Each flow costs exactly the argon2id
 * calls it must: one for register and login, two when a new password is set.
 */
@Injectable()
export class AccountFlowsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly keys: AccountKeysService,
    private readonly sessions: SessionService,
    private readonly audit: AuditLogService,
    private readonly credentials: CredentialCheckService,
    private readonly accessKeys: AccessKeyWraps,
  ) {}

  /**
   * @param idempotency present when the request carries an `Idempotency-Key`: receives the
   *   `password/idempotency` branch of the new password's argon2id output (no second call).
   * @returns the new account's id and its recovery code (shown once).
   */
  async register(
    email: string,
    password: string,
    profile: ProfileFields | undefined,
    audit: AuditContext,
    idempotency?: PasswordIdempotencySecretHolder,
  ): Promise<{ userId: string; recoveryCode: string }> {
    if (await this.users.findByEmail(email)) throw new EmailTakenError();
    const { material: passwordMaterial, idempotencySecret } =
      await this.newPasswordMaterial(password, idempotency !== undefined);
    // The holder zeroes it whatever happens; the interceptor uses it only on success.
    if (idempotencySecret) idempotency?.offer(idempotencySecret);
    const recovery = this.keys.newRecoveryMaterial();
    const userId = randomUUID();
    const { dataKey, wrapped } = this.keys.newDataKey(
      userId,
      FIRST_KEY_VERSION,
      passwordMaterial.kek,
      recovery.kek,
    );
    zeroBuffer(passwordMaterial.kek, recovery.kek);

    // The email and profile are encrypted under the new DEK: it is this request's keyring.
    const keyring = new Keyring(
      userId,
      new Map([[FIRST_KEY_VERSION, dataKey]]),
      FIRST_KEY_VERSION,
    );
    try {
      await KeyContext.runWithKeyring(keyring, () =>
        this.dataSource.transaction(async (manager) => {
          await manager.insert(
            User,
            manager.create(User, {
              id: userId,
              email,
              authVerifier: passwordMaterial.authVerifier,
              kdfSalt: passwordMaterial.kdfSalt,
              kdfParams: passwordMaterial.kdfParams,
              recoverySalt: recovery.recoverySalt,
              activeKeyVersion: FIRST_KEY_VERSION,
            }),
          );
          await manager.insert(UserDataKey, { userId, ...wrapped });
          if (profile)
            await manager.insert(
              Profile,
              manager.create(Profile, {
                userId,
                ...emptyProfile(),
                ...profile,
              }),
            );
        }),
      );
    } catch (error) {
      // Two registrations of one email raced past the check above: the unique index decides.
      if (
        error instanceof QueryFailedError &&
        (error as { code?: string }).code === PG_UNIQUE_VIOLATION
      ) {
        throw new EmailTakenError();
      }
      throw error;
    }
    await this.audit.record('auth.register', 'success', userId, audit);
    return { userId, recoveryCode: recovery.recoveryCode };
  }

  /**
   * One argon2id call whether or not the account exists; identical failures
   * (docs/security.md#unknown-emails). A locked account (too many failures, unknown emails alike)
   * is refused before the lookup and the KDF.
   */
  async login(
    email: string,
    password: string,
    audit: AuditContext,
    idempotency?: PasswordIdempotencySecretHolder,
  ): Promise<TokenPair> {
    const check = { email, event: 'auth.login', audit } as const;
    // One round trip for the account and its wrapped keys, whether or not the password is right.
    const findAccount = () => this.users.findLoginAccount(email);
    const {
      account: user,
      kek,
      idempotencySecret,
    } = idempotency
      ? await this.credentials.checkPasswordWithIdempotencySecret(
          check,
          password,
          findAccount,
        )
      : {
          ...(await this.credentials.checkPassword(
            check,
            password,
            findAccount,
          )),
          idempotencySecret: undefined,
        };
    if (idempotencySecret) idempotency?.offer(idempotencySecret);
    const keyring = this.keys.unwrapKeyring(
      user,
      user.dataKeys,
      kek,
      'password',
    );
    zeroBuffer(kek);
    if (!keyring) throw new InvalidCredentialsError();
    try {
      await this.users.adoptCurrentEmailIndex(user, email);
      if (this.keys.needsUpgrade(user.kdfParams))
        await this.upgradePassword(user, keyring, password, idempotency);
      // The vault tells its keyring listeners: an interrupted key rotation resumes from there.
      // At SESSIONS_PER_USER_LIMIT, the user's oldest session ends (audited) to make room.
      const tokens = await this.sessions.open(user.id, keyring, audit);
      await this.audit.record('auth.login', 'success', user.id, audit);
      return tokens;
    } finally {
      keyring.zero();
    }
  }

  /**
   * Stronger configured cost, or KDF version 1: re-derive once, at login, with the password in
   * hand. Skipped when the argon2id queue is busy (the login itself succeeded) or another request
   * changed the account meanwhile: the next login upgrades instead.
   */
  private async upgradePassword(
    user: Pick<User, 'id' | 'version'>,
    keyring: Keyring,
    password: string,
    idempotency: PasswordIdempotencySecretHolder | undefined,
  ): Promise<void> {
    try {
      const { material, idempotencySecret } = await this.newPasswordMaterial(
        password,
        idempotency !== undefined,
      );
      try {
        await this.setPassword(user, keyring, material);
      } catch (error) {
        if (idempotencySecret) zeroBuffer(idempotencySecret);
        throw error;
      }
      // The stored salt and cost are the upgraded ones now: a replay reproduces this secret, not
      // the one the check derived (which the holder zeroes). Skipped upgrade: that one stays.
      if (idempotencySecret) idempotency?.offer(idempotencySecret);
    } catch (error) {
      if (
        !(error instanceof ConcurrentAccountChangeError) &&
        !(error instanceof ServiceBusyError)
      )
        throw error;
    }
  }

  /**
   * One argon2id call for a new password; with `withIdempotencySecret`, its `password/idempotency`
   * branch too (the caller's to zero or hand over).
   */
  private async newPasswordMaterial(
    password: string,
    withIdempotencySecret: boolean,
  ): Promise<{ material: PasswordMaterial; idempotencySecret?: Buffer }> {
    if (!withIdempotencySecret)
      return { material: await this.keys.derivePasswordMaterial(password) };
    const { idempotencySecret, ...material } =
      await this.keys.derivePasswordMaterialWithIdempotencySecret(password);
    return { material, idempotencySecret };
  }

  /** Re-wraps every DEK version under the new password (no data is re-encrypted). */
  async changePassword(
    userId: string,
    currentSessionKeyId: string,
    currentPassword: string,
    newPassword: string,
    audit: AuditContext,
  ): Promise<void> {
    // With the email (decrypted under the session's keys): it names the account's failure counter.
    const user = await this.users.findByIdWithEmail(userId);
    if (!user) throw new InvalidCredentialsError();
    const kek = await this.credentials.confirmPassword(
      user,
      currentPassword,
      'auth.password_change',
      audit,
    );
    const keyring = this.keys.unwrapKeyring(
      user,
      await this.users.dataKeysOf(userId),
      kek,
      'password',
    );
    zeroBuffer(kek);
    if (!keyring) throw new InvalidCredentialsError();
    try {
      await this.setPassword(
        user,
        keyring,
        await this.keys.derivePasswordMaterial(newPassword),
      );
    } finally {
      keyring.zero();
    }
    await this.sessions.revokeAllForUser(userId, currentSessionKeyId);
    await this.audit.record('auth.password_change', 'success', userId, audit);
  }

  /**
   * New password from the recovery code; a new code replaces the old; every session and every
   * access key ends (docs/access-keys.md#lifecycle: whoever recovered re-issues the keys they want).
   */
  async recover(
    email: string,
    recoveryCode: string,
    newPassword: string,
    audit: AuditContext,
  ): Promise<{ recoveryCode: string }> {
    const { user, keyring } = await this.credentials.check(
      { email, event: 'auth.recovery', audit },
      async () => {
        const user = await this.users.findByEmail(email);
        const keyring =
          user && (await this.unlockByRecovery(user, recoveryCode));
        // The success path spends an argon2id call on the new password: so does failure.
        if (!user || !keyring)
          await this.keys.spendDummyVerification(newPassword);
        return {
          userId: user?.id ?? null,
          verified: user && keyring ? { user, keyring } : undefined,
        };
      },
    );
    try {
      const passwordMaterial =
        await this.keys.derivePasswordMaterial(newPassword);
      const recovery = this.keys.newRecoveryMaterial();
      const revokedKeys = await this.setPassword(
        user,
        keyring,
        passwordMaterial,
        recovery,
      );
      await this.users.adoptCurrentEmailIndex(user, email);
      await this.sessions.revokeAllForUser(user.id);
      await this.audit.record('auth.recovery', 'success', user.id, audit);
      if (revokedKeys > 0)
        await this.audit.record('access_key.revoke', 'success', user.id, audit);
      return { recoveryCode: recovery.recoveryCode };
    } finally {
      keyring.zero();
    }
  }

  /** The account's keys opened with its recovery code, or undefined when the code is wrong. */
  private async unlockByRecovery(
    user: User,
    recoveryCode: string,
  ): Promise<Keyring | undefined> {
    let recoveryKek: Buffer;
    try {
      recoveryKek = this.keys.recoveryKek(recoveryCode, user.recoverySalt);
    } catch (error) {
      if (error instanceof InvalidCryptoInputError) return undefined;
      throw error;
    }
    try {
      return this.keys.unwrapKeyring(
        user,
        await this.users.dataKeysOf(user.id),
        recoveryKek,
        'recovery',
      );
    } finally {
      zeroBuffer(recoveryKek);
    }
  }

  /** Records a successful security event that needs no other work here (logout, revocation). */
  audited(
    event: 'auth.logout' | 'auth.session_revoke',
    userId: string,
    audit: AuditContext,
  ): Promise<void> {
    return this.audit.record(event, 'success', userId, audit);
  }

  /**
   * Stores new password material (and, in recovery, new recovery material) and re-wraps every
   * DEK version, atomically, if nobody changed the account since it was read (optimistic lock).
   * A recovery also revokes every access key, in the same transaction.
   * @returns how many access keys the recovery revoked (0 for a password change).
   */
  private async setPassword(
    user: Pick<User, 'id' | 'version'>,
    keyring: Keyring,
    password: PasswordMaterial,
    recovery?: { recoverySalt: Buffer; kek: Buffer },
  ): Promise<number> {
    const recoveryKekForRewrap = recovery?.kek;
    try {
      return await this.dataSource.transaction(
        async (manager: EntityManager) => {
          const updated = await manager.update(
            User,
            { id: user.id, version: user.version },
            {
              authVerifier: password.authVerifier,
              kdfSalt: password.kdfSalt,
              kdfParams: password.kdfParams,
              ...(recovery ? { recoverySalt: recovery.recoverySalt } : {}),
              version: user.version + 1,
            },
          );
          if (!updated.affected) throw new ConcurrentAccountChangeError();
          for (const version of keyring.versions) {
            const dataKey = keyring.key(version) as Buffer;
            const wrapped = this.keys.wrap(
              user.id,
              version,
              dataKey,
              password.kek,
              recoveryKekForRewrap ?? password.kek,
            );
            await manager.update(
              UserDataKey,
              { userId: user.id, keyVersion: version },
              recovery
                ? {
                    wrappedByPassword: wrapped.wrappedByPassword,
                    wrappedByRecovery: wrapped.wrappedByRecovery,
                  }
                : { wrappedByPassword: wrapped.wrappedByPassword },
            );
          }
          return recovery ? this.accessKeys.revokeAllOf(manager, user.id) : 0;
        },
      );
    } finally {
      zeroBuffer(password.kek, recovery?.kek);
    }
  }
}

function emptyProfile(): Required<ProfileFields> {
  return {
    fullName: null,
    dateOfBirth: null,
    phone: null,
    address: null,
    nationalId: null,
  };
}
