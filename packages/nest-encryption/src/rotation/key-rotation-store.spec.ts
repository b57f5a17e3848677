import {
  DEFAULT_KEY_ROTATION_TABLES,
  type Queryable,
  SqlKeyRotationStore,
} from './key-rotation-store';

/** Records each statement and answers `rows`: the SQL text is what is under test here. */
function recorder(rows: unknown[] = []) {
  const calls: { sql: string; parameters?: unknown[] }[] = [];
  const queryable: Queryable = {
    query: (sql, parameters) => {
      calls.push({ sql, parameters });
      return Promise.resolve(rows);
    },
  };
  return { calls, queryable };
}

/**
 * Before the engine moved into the library, the app's runner and job ran these exact strings on
 * `users`, `user_data_keys` and `key_rotations`; the default store must not change one character
 * (operators' statement statistics and plans are keyed by the text).
 */
const TODAY = {
  pending: `SELECT from_version, to_version,
                  GREATEST(0, $2::float8 - EXTRACT(EPOCH FROM clock_timestamp() - started_at) * 1000)::int AS grace_ms
             FROM key_rotations WHERE user_id = $1`,
  isPending: 'SELECT 1 FROM key_rotations WHERE user_id = $1',
  addProgress: `UPDATE key_rotations SET rows_reencrypted = rows_reencrypted + $2, values_reencrypted = values_reencrypted + $3,
                    updated_at = now() WHERE user_id = $1`,
  addItemProgress:
    'UPDATE key_rotations SET files_reencrypted = files_reencrypted + 1, updated_at = now() WHERE user_id = $1',
  lockOwner: 'SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE',
  lockRetiredKeys:
    'SELECT key_version FROM user_data_keys WHERE user_id = $1 AND key_version <> $2 FOR UPDATE',
  destroyRetiredKeys:
    'DELETE FROM user_data_keys WHERE user_id = $1 AND key_version <> $2',
  deleteRotation: 'DELETE FROM key_rotations WHERE user_id = $1',
  liveVersions:
    'SELECT k.key_version, u.active_key_version FROM user_data_keys k JOIN users u ON u.id = k.user_id WHERE k.user_id = $1',
  liveKey:
    'SELECT 1 FROM user_data_keys WHERE user_id = $1 AND key_version = $2 FOR KEY SHARE',
};

describe('SqlKeyRotationStore with its default tables', () => {
  const store = new SqlKeyRotationStore();

  it('reads the pending rotation with the grace left, as the runner did', async () => {
    const { calls, queryable } = recorder([
      { from_version: 1, to_version: 2, grace_ms: '250' },
    ]);
    await expect(store.pending(queryable, 'owner-1', 1_000)).resolves.toEqual({
      fromVersion: 1,
      toVersion: 2,
      graceMs: 250,
    });
    expect(calls).toEqual([
      { sql: TODAY.pending, parameters: ['owner-1', 1_000] },
    ]);
    await expect(
      store.pending(recorder([]).queryable, 'owner-1', 1_000),
    ).resolves.toBeUndefined();
  });

  it('asks whether a rotation is pending, as the job did', async () => {
    const pending = recorder([{ '?column?': 1 }]);
    await expect(store.isPending(pending.queryable, 'owner-1')).resolves.toBe(
      true,
    );
    expect(pending.calls).toEqual([
      { sql: TODAY.isPending, parameters: ['owner-1'] },
    ]);
    await expect(
      store.isPending(recorder([]).queryable, 'owner-1'),
    ).resolves.toBe(false);
  });

  it('counts progress by batch and by item', async () => {
    const { calls, queryable } = recorder();
    await store.addProgress(queryable, 'owner-1', { rows: 500, values: 1_200 });
    await store.addItemProgress(queryable, 'owner-1');
    expect(calls).toEqual([
      { sql: TODAY.addProgress, parameters: ['owner-1', 500, 1_200] },
      { sql: TODAY.addItemProgress, parameters: ['owner-1'] },
    ]);
  });

  it('locks the owner and the retired keys, then destroys them and the rotation row', async () => {
    const { calls, queryable } = recorder([{ id: 'owner-1' }]);
    await expect(store.lockOwner(queryable, 'owner-1')).resolves.toBe(true);
    await store.lockRetiredKeys(queryable, 'owner-1', 2);
    await store.destroyRetiredKeys(queryable, 'owner-1', 2);
    expect(calls).toEqual([
      { sql: TODAY.lockOwner, parameters: ['owner-1'] },
      { sql: TODAY.lockRetiredKeys, parameters: ['owner-1', 2] },
      { sql: TODAY.destroyRetiredKeys, parameters: ['owner-1', 2] },
      { sql: TODAY.deleteRotation, parameters: ['owner-1'] },
    ]);
    await expect(store.lockOwner(recorder([]).queryable, 'gone')).resolves.toBe(
      false,
    );
  });

  it('reads the live versions and the active one', async () => {
    const { calls, queryable } = recorder([
      { key_version: 1, active_key_version: 2 },
      { key_version: 2, active_key_version: 2 },
    ]);
    await expect(store.liveVersions(queryable, 'owner-1')).resolves.toEqual({
      versions: [1, 2],
      active: 2,
    });
    expect(calls).toEqual([
      { sql: TODAY.liveVersions, parameters: ['owner-1'] },
    ]);
    await expect(
      store.liveVersions(recorder([]).queryable, 'owner-1'),
    ).resolves.toBeUndefined();
  });

  it("gives the encrypted columns' liveKeySql the app passed before", () => {
    expect(store.liveKeySql()).toBe(TODAY.liveKey);
    expect(store.tables).toEqual(DEFAULT_KEY_ROTATION_TABLES);
  });
});

describe('SqlKeyRotationStore with other tables', () => {
  it('uses the names given, schema-qualified tables included, and reads results by them', async () => {
    const store = new SqlKeyRotationStore({
      owners: { table: 'crm.accounts', activeKeyVersion: 'current_key' },
      dataKeys: { table: 'crm.account_keys', ownerId: 'account_id' },
    });
    expect(store.liveKeySql()).toBe(
      'SELECT 1 FROM crm.account_keys WHERE account_id = $1 AND key_version = $2 FOR KEY SHARE',
    );
    const { calls, queryable } = recorder([{ key_version: 3, current_key: 3 }]);
    await expect(store.liveVersions(queryable, 'a-1')).resolves.toEqual({
      versions: [3],
      active: 3,
    });
    expect(calls[0].sql).toBe(
      'SELECT k.key_version, u.current_key FROM crm.account_keys k JOIN crm.accounts u ON u.id = k.account_id WHERE k.account_id = $1',
    );
    // The rotations table kept its default names.
    const pending = recorder();
    await store.isPending(pending.queryable, 'a-1');
    expect(pending.calls[0].sql).toBe(TODAY.isPending);
  });

  it.each([
    [
      'a statement in a table name',
      { owners: { table: 'users; DROP TABLE users' } },
      'owners.table',
    ],
    [
      'a quoted column',
      { dataKeys: { keyVersion: '"key_version"' } },
      'dataKeys.keyVersion',
    ],
    [
      'a qualified column',
      { rotations: { ownerId: 'r.user_id' } },
      'rotations.ownerId',
    ],
    ['an empty name', { rotations: { table: '' } }, 'rotations.table'],
    ['three-part table', { owners: { table: 'db.crm.users' } }, 'owners.table'],
    ['not a string', { owners: { id: 7 as unknown as string } }, 'owners.id'],
  ])('refuses %s', (_case, tables, role) => {
    expect(() => new SqlKeyRotationStore(tables)).toThrow(
      new TypeError(
        `SqlKeyRotationStore: ${role} must be a plain SQL identifier`,
      ),
    );
  });
});
