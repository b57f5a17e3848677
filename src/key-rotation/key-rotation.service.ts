import { Injectable, Logger } from '@nestjs/common';
import { DataSource, QueryFailedError } from 'typeorm';
import { PG_UNIQUE_VIOLATION } from '../database/plain-sql';
import { AuditContext, AuditLogService } from '../audit/audit-log.service';
import { AccountKeysService } from '../auth/account-keys.service';
import { CredentialCheckService } from '../auth/credential-check.service';
import {
  ConcurrentAccountChangeError,
  InvalidCredentialsError,
} from '../auth/auth.errors';
import type { AuthenticatedSession } from '../common/auth/authenticated-session';
import { SessionService } from '../auth/sessions/session.service';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { UserDataKey } from '../users/user-data-key.entity';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { RotatedKeysDto } from './dto/rotated-keys.dto';
import { KeyRotation } from './key-rotation.entity';
import { AccessKeyVaultEntries } from '../auth/access-keys/access-key-vault-entries';
import { AccessKeyWraps } from '../auth/access-keys/access-key-wraps';
import {
  KeyRotationJob,
  RotationInProgressError,
} from '@vault-pii/nest-encryption';

/**
 * Starts a user's key rotation (docs/crypto.md#key-rotation): one argon2id check of the password
 * (counted like a login's, docs/security.md#rate-limits), then — in one transaction — a new DEK
 * version wrapped by the password's KEK and a new recovery code's KEK, the old version re-wrapped
 * for the new code (the old code stops working at once), the new version made active, and a
 * `key_rotations` row. The answer carries the new recovery code as soon as that has committed;
 * `KeyRotationJob` then re-encrypts the data in the background and destroys the old version. Reads
 * work throughout: this session's keys hold both versions.
 */
@Injectable()
export class KeyRotationService {
  private readonly logger = new Logger(KeyRotationService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly keys: AccountKeysService,
    private readonly credentials: CredentialCheckService,
    private readonly sessions: SessionService,
    private readonly audit: AuditLogService,
    private readonly job: KeyRotationJob,
    private readonly accessKeys: AccessKeyWraps,
    private readonly accessKeyEntries: AccessKeyVaultEntries,
  ) {}

  /** The user's rotation still re-encrypting, or null (its row goes when the old key does). */
  pendingOf(userId: string): Promise<KeyRotation | null> {
    return this.dataSource.getRepository(KeyRotation).findOneBy({ userId });
  }

  async rotate(
    session: AuthenticatedSession,
    password: string,
    audit: AuditContext,
  ): Promise<RotatedKeysDto> {
    // With the email (decrypted under the session's keys): it names the account's failure counter.
    const user = await this.users.findByIdWithEmail(session.userId);
    if (!user) throw new InvalidCredentialsError();
    if (await this.pendingOf(user.id)) throw new RotationInProgressError();

    const kek = await this.credentials.confirmPassword(
      user,
      password,
      'keys.rotate',
      audit,
    );
    const keyring = this.keys.unwrapKeyring(
      user,
      await this.users.dataKeysOf(user.id),
      kek,
      'password',
    );
    if (!keyring) {
      zeroBuffer(kek);
      throw new InvalidCredentialsError();
    }
    const fromVersion = user.activeKeyVersion;
    const toVersion = Math.max(...keyring.versions) + 1;
    const recovery = this.keys.newRecoveryMaterial();
    const { dataKey, wrapped } = this.keys.newDataKey(
      user.id,
      toVersion,
      kek,
      recovery.kek,
    );
    // Until it is destroyed, the old version opens with the new recovery code only.
    const rewrapped = keyring.versions.map((version) =>
      this.keys.wrap(
        user.id,
        version,
        keyring.key(version) as Buffer,
        kek,
        recovery.kek,
      ),
    );
    zeroBuffer(kek, recovery.kek);
    const next = keyring.copy({
      add: { version: toVersion, key: dataKey },
      activeVersion: toVersion,
    });
    keyring.zero();

    let revokedAccessKeys: string[] = [];
    try {
      // Other sessions end before anything changes (docs/sessions.md#revocation): none keeps
      // writing under the old key. Access keys' vault entries go too; see below.
      await this.sessions.revokeAllForUser(user.id, session.sessionKeyId);
      await this.dataSource.transaction(async (manager) => {
        const updated = await manager.update(
          User,
          { id: user.id, version: user.version },
          {
            activeKeyVersion: toVersion,
            recoverySalt: recovery.recoverySalt,
            version: user.version + 1,
          },
        );
        if (!updated.affected) throw new ConcurrentAccountChangeError();
        await manager.insert(KeyRotation, {
          userId: user.id,
          fromVersion,
          toVersion,
        });
        await manager.insert(UserDataKey, { userId: user.id, ...wrapped });
        // Every live access key gets the new version too (sealed to its public key, no secret
        // needed); its wraps of the old version go with that version's row (foreign key cascade).
        ({ revoked: revokedAccessKeys } = await this.accessKeys.wrapForLiveKeys(
          manager,
          user.id,
          toVersion,
          next.key(toVersion)!,
        ));
        for (const rewrap of rewrapped) {
          await manager.update(
            UserDataKey,
            { userId: user.id, keyVersion: rewrap.keyVersion },
            { wrappedByRecovery: rewrap.wrappedByRecovery },
          );
        }
      });
    } catch (error) {
      next.zero();
      if (
        error instanceof QueryFailedError &&
        (error as { code?: string }).code === PG_UNIQUE_VIOLATION
      )
        throw new RotationInProgressError();
      throw error;
    }
    // An access key's entry holds the old version only: a request that stored one between the
    // revocation above and the commit would serve without the new version.
    await this.accessKeyEntries.deleteEntriesOfUser(user.id, revokedAccessKeys);

    const vaultSession = {
      sessionId: session.sessionKeyId,
      userId: user.id,
      clientShare: Buffer.from(session.clientShare),
    };
    try {
      await this.sessions.replaceKeys(
        vaultSession.sessionId,
        user.id,
        vaultSession.clientShare,
        next,
      );
    } catch (error) {
      // Committed: the new recovery code must still reach the user. This session logs in again.
      this.logger.error(
        { userId: user.id, err: { type: (error as Error)?.name } },
        'rotated keys not stored for the session',
      );
    }
    await this.audit.record('keys.rotate', 'success', user.id, audit);
    // The job owns `next` from here and logs its own failures; the next login or request resumes it.
    // Once it has destroyed the old version, no access-key entry may hold it, whatever failed.
    void this.job
      .run(user.id, next, vaultSession)
      .then((report) =>
        report.outcome === 'completed'
          ? this.accessKeyEntries.deleteEntriesOfUser(user.id)
          : undefined,
      )
      .catch(() => undefined);
    return { keyVersion: toVersion, recoveryCode: recovery.recoveryCode };
  }
}
