import { randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import {
  Keyring,
  MemoryVaultStore,
  SessionKeyVault,
  VaultUnavailableError,
} from '@vault-pii/nest-encryption';
import {
  ACCESS_KEY_RECHECK_MS,
  AccessKeyVaultEntries,
  type AccessKeyRecord,
} from './access-key-vault-entries';

/**
 * The per-instance record of a key and the vault side of `AccessKeyVaultEntries`, on a real
 * vault over a memory store. Storing (which re-reads the row) and deleting after a change are
 * driven through PostgreSQL in test/access-keys-lifecycle.e2e-spec.ts.
 */
describe('AccessKeyVaultEntries', () => {
  const record = (): AccessKeyRecord => ({
    id: randomUUID(),
    userId: randomUUID(),
    scopes: ['contacts:read'],
    allowedAddresses: null,
    expiresAt: Date.now() + 60_000,
  });
  let store: MemoryVaultStore;
  let vault: SessionKeyVault;
  let entries: AccessKeyVaultEntries;
  let logError: jest.SpyInstance;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    logError = jest
      .spyOn(Logger.prototype, 'error')
      .mockImplementation(() => undefined);
    store = new MemoryVaultStore({
      idleTtlMs: 60_000,
      maxTtlMs: 600_000,
      maxEntries: 100,
      sweepIntervalMs: 60_000,
    });
    vault = new SessionKeyVault({ vaultKey: randomBytes(32) }, store);
    // No database: these cases never read a row.
    entries = new AccessKeyVaultEntries(
      vault,
      undefined as never as DataSource,
    );
  });

  afterEach(async () => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    await vault.onApplicationShutdown();
  });

  it('remembers a record for ACCESS_KEY_RECHECK_MS, then reads the row again', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const lookup = randomBytes(32);
    const key = record();
    expect(entries.recent(lookup)).toBeUndefined();
    entries.remember(lookup, key);
    expect(entries.recent(lookup)).toBe(key);
    expect(entries.recent(randomBytes(32))).toBeUndefined();
    jest.advanceTimersByTime(ACCESS_KEY_RECHECK_MS - 1);
    expect(entries.recent(lookup)).toBe(key);
    jest.advanceTimersByTime(1);
    expect(entries.recent(lookup)).toBeUndefined();
  });

  it('forgets the record of a key the database no longer has, and only that one', () => {
    const [one, two] = [randomBytes(32), randomBytes(32)];
    entries.remember(one, record());
    entries.remember(two, record());
    entries.forget(one);
    expect(entries.recent(one)).toBeUndefined();
    expect(entries.recent(two)).toBeDefined();
  });

  it('keeps at most 10,000 records, forgetting the oldest first (a flood of keys cannot grow it)', () => {
    const first = randomBytes(32);
    entries.remember(first, record());
    const second = randomBytes(32);
    entries.remember(second, record());
    for (let i = 0; i < 9_999; i++) entries.remember(randomBytes(32), record());
    expect(entries.recent(first)).toBeUndefined();
    expect(entries.recent(second)).toBeDefined();
  });

  it('unlocks a stored entry with its share only; none, another share or a deleted one is a miss, not an error', async () => {
    const key = record();
    const share = randomBytes(32);
    expect(await entries.unlock(key, share)).toBeUndefined();
    const dataKey = randomBytes(32);
    await vault.store(
      {
        sessionId: `access-key:${key.id}`,
        userId: key.userId,
        clientShare: share,
      },
      new Keyring(key.userId, new Map([[1, dataKey]]), 1),
    );
    const keyring = await entries.unlock(key, share);
    expect(keyring?.key(1)?.equals(dataKey)).toBe(true);
    keyring?.zero();
    expect(await entries.unlock(key, randomBytes(32))).toBeUndefined();
    expect(
      await entries.unlock({ ...key, userId: randomUUID() }, share),
    ).toBeUndefined();
    await entries.deleteEntries([key.id]);
    expect(await entries.unlock(key, share)).toBeUndefined();
  });

  it('a store that cannot answer is a 503 on unlock, and never a miss', async () => {
    await store.close();
    await expect(entries.unlock(record(), randomBytes(32))).rejects.toThrow(
      VaultUnavailableError,
    );
    await expect(entries.deleteEntries([randomUUID()])).rejects.toThrow(
      VaultUnavailableError,
    );
  });

  it('deleting after a commit never throws: a store failure is logged', async () => {
    await store.close();
    await expect(
      entries.deleteEntriesAfterCommit([randomUUID()]),
    ).resolves.toBeUndefined();
    expect(logError).toHaveBeenCalledWith(
      { err: { type: 'VaultUnavailableError' } },
      'access key vault entries not deleted after a change of keys',
    );
  });

  it('a keyring of two versions (a rotation under way) is not stored, and deletes an older entry', async () => {
    const key = record();
    const share = randomBytes(32);
    await vault.store(
      {
        sessionId: `access-key:${key.id}`,
        userId: key.userId,
        clientShare: share,
      },
      new Keyring(key.userId, new Map([[1, randomBytes(32)]]), 1),
    );
    const both = new Keyring(
      key.userId,
      new Map([
        [1, randomBytes(32)],
        [2, randomBytes(32)],
      ]),
      2,
    );
    await entries.keep(key, both, share);
    both.zero();
    expect(await store.get(`access-key:${key.id}`)).toBeUndefined();
  });
});
