import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  Keyring,
  SessionKeyVault,
  SessionLockedError,
  type VaultSession,
} from '@vault-pii/nest-encryption';
import type { AccessKeyScope } from '../../common/auth/access-key-scopes';
import { accessKeySessionKeyId } from '../../common/auth/authenticated-session';

/**
 * How long this instance trusts a key's record without reading its row again: the bound on how
 * long a revoked key could still be served were its vault entry to survive a store failure
 * (normally the entry is deleted at once and the next request on any instance is refused).
 */
export const ACCESS_KEY_RECHECK_MS = 10_000;

/** Records remembered per instance at most (the oldest forgotten first). */
const MAX_RECORDS = 10_000;

/** What a request is checked against before anything is opened: fields no route changes. */
export interface AccessKeyRecord {
  id: string;
  userId: string;
  scopes: AccessKeyScope[];
  allowedAddresses: string[] | null;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** Whether the key still exists, and under which active data key version (after a store). */
const ACTIVE_VERSION_OF_KEY = `
  SELECT u.active_key_version
    FROM access_keys k
    JOIN users u ON u.id = k.user_id
   WHERE k.id = $1`;

const KEY_IDS_OF_USER = `SELECT id FROM access_keys WHERE user_id = $1`;

/**
 * docs/access-keys.md#the-vault-entry: a live access key's opened data keys kept between requests
 * in the session key vault, as a session's are, so that a request by key costs what one by
 * session costs (no query, no X25519) instead of a database read and one X25519 operation per
 * data key version.
 *
 * - The entry is named `access-key:<id>` and sealed, like every vault entry, under the vault key
 *   and a client share; here the share is derived from the key's secret (HKDF label
 *   `vault-share`), which the server never stores: a dump of the store, with every server secret,
 *   opens no entry.
 * - Beside it, each instance remembers for `ACCESS_KEY_RECHECK_MS` the key's record (owner,
 *   scopes, addresses, expiry: fixed at creation), found by the key's lookup; refusals need no
 *   query either. After that the row is read again and the entry re-stored.
 * - Only a keyring of one version is stored: while a rotation runs the key is served from the
 *   database, so no entry ever holds a version a rotation is about to destroy.
 * - Every change that ends a key or adds a version deletes its entries after its commit
 *   (revocation, rotation, recovery, account deletion); a request that read the row before such a
 *   commit and stores after it reads the row again once stored and deletes what it stored if the
 *   key is gone or its active version moved. Deleting the entry is what makes a revocation
 *   immediate on every instance: a request without an entry reads the row.
 */
@Injectable()
export class AccessKeyVaultEntries {
  private readonly logger = new Logger(AccessKeyVaultEntries.name);
  /** By lookup (base64url): the record and when this instance read it. */
  private readonly records = new Map<
    string,
    { record: AccessKeyRecord; readAt: number }
  >();

  constructor(
    private readonly vault: SessionKeyVault,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** The record of the key `lookup` finds, when this instance read it within the recheck interval. */
  recent(lookup: Buffer): AccessKeyRecord | undefined {
    const name = lookup.toString('base64url');
    const remembered = this.records.get(name);
    if (!remembered) return undefined;
    if (Date.now() - remembered.readAt < ACCESS_KEY_RECHECK_MS)
      return remembered.record;
    this.records.delete(name);
    return undefined;
  }

  /** Remembers a record just read from the database. */
  remember(lookup: Buffer, record: AccessKeyRecord): void {
    const name = lookup.toString('base64url');
    this.records.delete(name);
    this.records.set(name, { record, readAt: Date.now() });
    if (this.records.size > MAX_RECORDS)
      this.records.delete(this.records.keys().next().value!);
  }

  /** Forgets the record of a key the database no longer has. */
  forget(lookup: Buffer): void {
    this.records.delete(lookup.toString('base64url'));
  }

  /**
   * The key's keyring from its vault entry (zeroed by the key context), or undefined when there is
   * none: never stored, deleted, expired, or not opening with this share.
   * @throws VaultUnavailableError when the store cannot answer.
   */
  async unlock(
    record: AccessKeyRecord,
    vaultShare: Buffer,
  ): Promise<Keyring | undefined> {
    try {
      // Quiet: no keyring-unlocked listener runs for an access key (no rotation resumes and no
      // plaintext adoption starts from machine traffic; an entry holds one version anyway).
      return await this.vault.unlock(entryOf(record, vaultShare), {
        quiet: true,
      });
    } catch (error) {
      if (error instanceof SessionLockedError) return undefined;
      throw error;
    }
  }

  /**
   * Stores `keyring` (read from the database with `record`) as the key's entry, then reads the
   * row again: when the key was revoked, or a rotation committed, since the keyring was read, the
   * entry is deleted again. A keyring of several versions (a rotation under way) is not stored,
   * and an older entry is deleted. The keyring stays the caller's.
   * @throws VaultUnavailableError when the store cannot answer.
   */
  async keep(
    record: AccessKeyRecord,
    keyring: Keyring,
    vaultShare: Buffer,
  ): Promise<void> {
    const entry = entryOf(record, vaultShare);
    if (keyring.versions.length !== 1) {
      await this.vault.revoke(entry.sessionId);
      return;
    }
    await this.vault.store(entry, keyring);
    let row: { active_key_version: number } | undefined;
    try {
      [row] = await this.dataSource.query<{ active_key_version: number }[]>(
        ACTIVE_VERSION_OF_KEY,
        [record.id],
      );
    } catch (error) {
      // Unconfirmed: not left behind.
      await this.vault.revoke(entry.sessionId).catch(() => undefined);
      throw error;
    }
    if (row?.active_key_version !== keyring.activeVersion)
      await this.vault.revoke(entry.sessionId);
  }

  /** Deletes the entries of these keys. @throws VaultUnavailableError */
  async deleteEntries(keyIds: readonly string[]): Promise<void> {
    for (const id of keyIds) await this.vault.revoke(accessKeySessionKeyId(id));
  }

  /**
   * Deletes the entries of every key the user has, and of `deletedKeyIds` (a rotation, after its
   * commit). Never throws: see `deleteEntriesAfterCommit`.
   */
  async deleteEntriesOfUser(
    userId: string,
    deletedKeyIds: readonly string[] = [],
  ): Promise<void> {
    let keyIds: string[] = [];
    try {
      const keys = await this.dataSource.query<{ id: string }[]>(
        KEY_IDS_OF_USER,
        [userId],
      );
      keyIds = keys.map(({ id }) => id);
    } catch (error) {
      this.notDeleted(error);
    }
    await this.deleteEntriesAfterCommit([...keyIds, ...deletedKeyIds]);
  }

  /**
   * Deletes every vault entry of a user whose account is gone, sessions' and keys' alike (no key
   * id is left to name them by). Never throws: see `deleteEntriesAfterCommit`.
   */
  async deleteEveryEntryOfDeletedUser(userId: string): Promise<void> {
    try {
      await this.vault.revokeAllForUser(userId);
    } catch (error) {
      this.notDeleted(error);
    }
  }

  /**
   * Deletes the entries of these keys after a change that has committed: never throws. A failure
   * is logged. An entry left behind (a request stored it between the change's first deletion and
   * its commit, and this deletion failed; or the store failed a request's own clean-up) serves at
   * most `ACCESS_KEY_RECHECK_MS` past an instance's last read of the key's row, and its sealed
   * bytes stay in the store until its idle expiry (`SESSION_IDLE_TTL`) unless the key is used
   * again: opening them takes the key's secret as well as the vault key.
   */
  async deleteEntriesAfterCommit(keyIds: readonly string[]): Promise<void> {
    try {
      await this.deleteEntries(keyIds);
    } catch (error) {
      this.notDeleted(error);
    }
  }

  private notDeleted(error: unknown): void {
    this.logger.error(
      { err: { type: (error as Error)?.name } },
      'access key vault entries not deleted after a change of keys',
    );
  }
}

/** The vault entry of an access key: the store sees only `access-key:<id>` and sealed bytes. */
function entryOf(record: AccessKeyRecord, vaultShare: Buffer): VaultSession {
  return {
    sessionId: accessKeySessionKeyId(record.id),
    userId: record.userId,
    clientShare: vaultShare,
  };
}
