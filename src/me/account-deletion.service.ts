import { Injectable } from '@nestjs/common';
import { AuditContext, AuditLogService } from '../audit/audit-log.service';
import { InvalidCredentialsError } from '../auth/auth.errors';
import { CredentialCheckService } from '../auth/credential-check.service';
import { SessionService } from '../auth/sessions/session.service';
import { AccessKeyVaultEntries } from '../auth/access-keys/access-key-vault-entries';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { DocumentsService } from '../documents/documents.service';
import { UsersService } from '../users/users.service';

/**
 * Crypto-shredding (docs/crypto.md#account-lifecycle): once the password is confirmed (counted like
 * a login's, docs/security.md#rate-limits), sessions end, then the account goes with its wrapped
 * keys and every row that references it (foreign keys cascade), then the documents' files. Only
 * audit events stay.
 */
@Injectable()
export class AccountDeletionService {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialCheckService,
    private readonly sessions: SessionService,
    private readonly accessKeyEntries: AccessKeyVaultEntries,
    private readonly documents: DocumentsService,
    private readonly audit: AuditLogService,
  ) {}

  async deleteAccount(
    userId: string,
    password: string,
    audit: AuditContext,
  ): Promise<void> {
    // With the email (decrypted under the session's keys): it names the account's failure counter.
    const user = await this.users.findByIdWithEmail(userId);
    if (!user) throw new InvalidCredentialsError();
    zeroBuffer(
      await this.credentials.confirmPassword(
        user,
        password,
        'account.delete',
        audit,
      ),
    );
    await this.sessions.revokeAllForUser(userId);
    const deleteFiles = await this.documents.prepareDeletionOf(userId);
    await this.users.delete(userId);
    // The keys went with the account; an entry a request by one stored after the sessions'
    // revocation above goes now (whichever keys the user had by then).
    await this.accessKeyEntries.deleteEveryEntryOfDeletedUser(userId);
    // Rows went with the account (cascade); their files go now rather than by the orphan sweep.
    await deleteFiles();
    await this.audit.record('account.delete', 'success', userId, audit);
  }
}
