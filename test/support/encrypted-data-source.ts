import { DataSource, DataSourceOptions } from 'typeorm';
import { AeadAlgorithm } from '@vault-pii/nest-encryption/crypto';
import {
  BlindIndexes,
  EncryptedColumnsOptions,
  installEncryptedColumns,
  KeyContext,
  Keyring,
} from '@vault-pii/nest-encryption';

type PostgresOptions = Extract<DataSourceOptions, { type: 'postgres' }>;

/**
 * The key-version write guard's query for a test database whose keys are never destroyed: it
 * always finds its row.
 */
export const KEYS_NEVER_DESTROYED_SQL = 'SELECT $1::text, $2::int';

/**
 * A DataSource over a throw-away test database (`synchronize` is acceptable there and only there)
 * with the encrypted columns installed, as `EncryptedColumnsModule` installs them in the app.
 */
export async function openEncryptedDataSource(
  options: Pick<PostgresOptions, 'url' | 'entities'> & Partial<PostgresOptions>,
  encryption: Partial<EncryptedColumnsOptions> = {},
): Promise<{ dataSource: DataSource; blindIndexes: BlindIndexes }> {
  const dataSource = await new DataSource({
    type: 'postgres',
    synchronize: true,
    ...options,
  }).initialize();
  try {
    const blindIndexes = installEncryptedColumns(dataSource, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      liveKeySql: KEYS_NEVER_DESTROYED_SQL,
      ...encryption,
    });
    return { dataSource, blindIndexes };
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}

/** A data-key owner as a test holds one: its keys by version, and the version it writes with. */
export interface KeyOwner {
  id: string;
  keys: Map<number, Buffer>;
  active: number;
}

/** Runs `work` with a fresh keyring of `owner` (the context zeroes it afterwards), as each request gets one. */
export function withKeyring<T>(
  owner: KeyOwner,
  work: () => Promise<T>,
): Promise<T> {
  const copies = new Map(
    [...owner.keys].map(([version, key]) => [version, Buffer.from(key)]),
  );
  return KeyContext.runWithKeyring(
    new Keyring(owner.id, copies, owner.active),
    work,
  );
}
