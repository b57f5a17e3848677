import type { DataSource } from 'typeorm';
// By relative path: the adoption pass's child process loads it under ts-node, without a build (in
// Jest this is the file the package name maps to).
import { SqlKeyRotationStore } from '../../src/index';

/**
 * Owners, their wrapped keys' versions and their rotations in tables of an app's own naming (not the
 * library's defaults), for the engine's integration tests (rotation, plaintext adoption).
 */
export const KEY_TABLES_SCHEMA = `
  CREATE TABLE accounts (id uuid PRIMARY KEY, current_key integer NOT NULL);
  CREATE TABLE account_keys (
    account_id uuid NOT NULL REFERENCES accounts (id),
    key_version integer NOT NULL,
    PRIMARY KEY (account_id, key_version));
  CREATE TABLE rotations (
    account_id uuid PRIMARY KEY REFERENCES accounts (id),
    from_version integer NOT NULL,
    to_version integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    rows_reencrypted integer NOT NULL DEFAULT 0,
    values_reencrypted integer NOT NULL DEFAULT 0,
    items_reencrypted integer NOT NULL DEFAULT 0);
`;

/** The store over `KEY_TABLES_SCHEMA`. */
export const keyTablesStore = new SqlKeyRotationStore({
  owners: { table: 'accounts', activeKeyVersion: 'current_key' },
  dataKeys: { table: 'account_keys', ownerId: 'account_id' },
  rotations: {
    table: 'rotations',
    ownerId: 'account_id',
    itemsReencrypted: 'items_reencrypted',
  },
});

/**
 * What an app's rotation start does (vault-pii's `KeyRotationService`), reduced to the rows: key
 * version 2 in force for `ownerId`. Then `'started'`: a rotation row from a minute ago (the
 * in-flight grace has passed, so a test does not wait for it); or `'finished'`: version 1's
 * wrapped key deleted, as a completed rotation leaves it.
 */
export async function rotateToVersion2(
  dataSource: DataSource,
  ownerId: string,
  state: 'started' | 'finished',
): Promise<void> {
  await dataSource.transaction(async (manager) => {
    await manager.query(
      'INSERT INTO account_keys (account_id, key_version) VALUES ($1, 2)',
      [ownerId],
    );
    await manager.query('UPDATE accounts SET current_key = 2 WHERE id = $1', [
      ownerId,
    ]);
    await manager.query(
      state === 'started'
        ? `INSERT INTO rotations (account_id, from_version, to_version, started_at)
           VALUES ($1, 1, 2, now() - interval '1 minute')`
        : 'DELETE FROM account_keys WHERE account_id = $1 AND key_version = 1',
      [ownerId],
    );
  });
}
