import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, QueryFailedError, Repository } from 'typeorm';
import { PG_FOREIGN_KEY_VIOLATION } from '../../database/plain-sql';
import { KeyContext } from '@vault-pii/nest-encryption';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { AuditContext, AuditLogService } from '../../audit/audit-log.service';
import {
  ConcurrentAccountChangeError,
  InvalidCredentialsError,
} from '../../auth/auth.errors';
import { CredentialCheckService } from '../../auth/credential-check.service';
import type { AuthenticatedSession } from '../../common/auth/authenticated-session';
import { readPage } from '../../common/pagination/keyset-page';
import type { PageQueryDto } from '../../common/pagination/page-query.dto';
import { RequestValidationError } from '../../common/problem/domain-error';
import { LimitReachedError } from '../../common/problem/limit-reached.error';
import { NotFoundError } from '../../common/problem/not-found.error';
import { AppConfig } from '../../config/app-config';
import { UsersService } from '../../users/users.service';
import { AccessKeyVaultEntries } from '../../auth/access-keys/access-key-vault-entries';
import { AccessKeyWraps } from '../../auth/access-keys/access-key-wraps';
import { AccessKey } from '../../auth/access-keys/access-key.entity';
import type {
  AccessKeyDto,
  AccessKeyPageDto,
  CreateAccessKeyDto,
  CreatedAccessKeyDto,
} from './dto/access-key.dto';

/** Names the per-user bound in a 409's `limit` member. */
export const ACCESS_KEYS_PER_USER_LIMIT = 'ACCESS_KEYS_PER_USER_LIMIT';

/**
 * docs/access-keys.md: a password session creates, lists and revokes its user's access keys.
 * Creating one confirms the password (one argon2id, counted like a login's), then — in one
 * transaction that holds the user's row against a key rotation committing meanwhile — stores the
 * key and a wrap of every data key version the session holds, sealed to the key's public key.
 */
@Injectable()
export class AccessKeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRepository(AccessKey)
    private readonly keys: Repository<AccessKey>,
    private readonly wraps: AccessKeyWraps,
    private readonly entries: AccessKeyVaultEntries,
    private readonly users: UsersService,
    private readonly credentials: CredentialCheckService,
    private readonly audit: AuditLogService,
    private readonly config: AppConfig,
  ) {}

  async create(
    session: AuthenticatedSession,
    body: CreateAccessKeyDto,
    audit: AuditContext,
  ): Promise<CreatedAccessKeyDto> {
    const expiresAt = this.expiryOf(body.expiresAt);
    // With the email (decrypted under the session's keys): it names the account's failure counter.
    const user = await this.users.findByIdWithEmail(session.userId);
    if (!user) throw new InvalidCredentialsError();
    zeroBuffer(
      await this.credentials.confirmPassword(
        user,
        body.password,
        'access_key.create',
        audit,
      ),
    );
    const keyring = KeyContext.require();
    const key = this.wraps.newKey(user.id);
    const row = await this.dataSource
      .transaction(async (manager) => {
        // Creates of one user queue here, and a key rotation's commit waits (or went first).
        const [owner] = await manager.query<{ active_key_version: number }[]>(
          'SELECT active_key_version FROM users WHERE id = $1 FOR NO KEY UPDATE',
          [user.id],
        );
        if (!owner || owner.active_key_version !== keyring.activeVersion)
          throw new ConcurrentAccountChangeError();
        const [{ live }] = await manager.query<{ live: number }[]>(
          'SELECT count(*)::int AS live FROM access_keys WHERE user_id = $1 AND expires_at > now()',
          [user.id],
        );
        const max = this.config.limits.accessKeysPerUser;
        if (live >= max)
          throw new LimitReachedError(
            ACCESS_KEYS_PER_USER_LIMIT,
            max,
            `You have ${max} access keys, the most allowed; revoke one first.`,
          );
        const created = manager.create(AccessKey, {
          id: key.id,
          userId: user.id,
          name: body.name,
          scopes: body.scopes,
          allowedAddresses: body.allowedAddresses ?? null,
          lookupHash: key.lookupHash,
          sealedPublicKey: key.sealedPublicKey,
          expiresAt,
          lastUsedAt: null,
        });
        await manager.insert(AccessKey, created);
        await this.wraps.wrapKeyring(
          manager,
          { ...key, userId: user.id },
          keyring,
        );
        return manager.findOneByOrFail(AccessKey, { id: key.id });
      })
      .catch((error: unknown) => {
        // A version the session holds was destroyed meanwhile (a rotation's job finished): no
        // wrap may reference it. The client retries; its session then holds the live versions.
        if (
          error instanceof QueryFailedError &&
          (error as { code?: string }).code === PG_FOREIGN_KEY_VIOLATION
        )
          throw new ConcurrentAccountChangeError();
        throw error;
      });
    await this.audit.record('access_key.create', 'success', user.id, audit);
    return { ...toDto(row), secret: key.secret };
  }

  list(userId: string, query: PageQueryDto): Promise<AccessKeyPageDto> {
    const builder = this.keys
      .createQueryBuilder('key')
      .where('key.userId = :userId', { userId });
    return readPage(builder, 'key', query, toDto);
  }

  async get(userId: string, id: string): Promise<AccessKeyDto> {
    const key = await this.keys.findOneBy({ id, userId });
    if (!key) throw new NotFoundError('access key');
    return toDto(key);
  }

  /**
   * Deletes the key and its wraps, and its vault entry, at once: from its next request on, on any
   * instance, it unlocks nothing. The entry is deleted before (a store that cannot answer fails the
   * revocation with 503 before anything changes) and again after the row (a request that read the
   * row meanwhile may have stored it again; see `AccessKeyVaultEntries.keep`).
   */
  async revoke(userId: string, id: string, audit: AuditContext): Promise<void> {
    if (!(await this.keys.existsBy({ id, userId })))
      throw new NotFoundError('access key');
    await this.entries.deleteEntries([id]);
    const { affected } = await this.keys.delete({ id, userId });
    if (!affected) throw new NotFoundError('access key');
    await this.entries.deleteEntriesAfterCommit([id]);
    await this.audit.record('access_key.revoke', 'success', userId, audit);
  }

  /** `expiresAt` as a date in the future, at most `ACCESS_KEY_MAX_TTL` away, or a 400. */
  private expiryOf(expiresAt: string): Date {
    const at = new Date(expiresAt);
    const now = Date.now();
    const maxSeconds = this.config.limits.accessKeyMaxTtlSeconds;
    const problem =
      Number.isNaN(at.getTime()) || at.getTime() <= now
        ? 'expiresAt must be in the future'
        : at.getTime() > now + maxSeconds * 1000
          ? `expiresAt must be at most ACCESS_KEY_MAX_TTL (${maxSeconds} s) from now`
          : undefined;
    if (problem)
      throw new RequestValidationError([
        { field: 'expiresAt', pointer: '/expiresAt', messages: [problem] },
      ]);
    return at;
  }
}

function toDto(key: AccessKey): AccessKeyDto {
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    expiresAt: key.expiresAt,
    allowedAddresses: key.allowedAddresses,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
  };
}
