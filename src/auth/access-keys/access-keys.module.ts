import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RateLimitRedisModule } from '../rate-limit/rate-limit.module';
import { AccessKeyAuthenticator } from './access-key-authenticator';
import { AccessKeyPurgeService } from './access-key-purge.service';
import { AccessKeyVaultEntries } from './access-key-vault-entries';
import { AccessKeyWraps } from './access-key-wraps';
import { AccessKey, AccessKeyDataKey } from './access-key.entity';

/**
 * docs/access-keys.md, the part other modules build on: authenticating a `vpk_` bearer token into
 * a keyring (for the auth guard), the keys' vault entries (deleted by whatever ends a key or adds a
 * data key version), wrapping data keys for access keys (for key rotation), revoking
 * all of a user's keys (for recovery), and the expiry purge. Management (create, list, revoke) is
 * `AccessKeyManagementModule`, which needs the auth module's password check.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([AccessKey, AccessKeyDataKey]),
    RateLimitRedisModule,
  ],
  providers: [
    AccessKeyAuthenticator,
    AccessKeyVaultEntries,
    AccessKeyWraps,
    AccessKeyPurgeService,
  ],
  exports: [AccessKeyAuthenticator, AccessKeyVaultEntries, AccessKeyWraps],
})
export class AccessKeysModule {}
