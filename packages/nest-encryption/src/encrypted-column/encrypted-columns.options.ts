import { AeadAlgorithm } from '../crypto';

/** What `EncryptedColumnsModule.forRoot()` (or the `forRootAsync` factory) provides. */
export interface EncryptedColumnsOptions {
  /** AEAD for new ciphertexts; both algorithms always decrypt. Default XChaCha20-Poly1305. */
  algorithm?: AeadAlgorithm;
  /**
   * Key of server-keyed blind indexes (`@BlindIndex({ keyedBy: 'server' })`, the login email),
   * 32 bytes; required when an entity of the DataSource has one. Used, not copied: its owner
   * (the app's `ServerKeys`) wipes it at shutdown.
   */
  serverBlindIndexKey?: Buffer;
  /**
   * The key-version write guard's check (`KeyVersionWriteGuard`), run before a transaction that
   * wrote encrypted values commits, with $1 the owner id and $2 the key version it sealed under:
   * returns a row while that version's key exists, and locks it until the commit, e.g.
   * `SELECT 1 FROM user_data_keys WHERE user_id = $1 AND key_version = $2 FOR KEY SHARE`.
   */
  liveKeySql: string;
  /** Told of every value sealed, opened or refused, per column, for metrics. Default: nobody. */
  observer?: EncryptedColumnsObserver;
}

/**
 * Counts per encrypted column (e.g. Prometheus counters). `column()` is asked once per column of
 * a DataSource; the counters it returns are called synchronously per value: they must be cheap
 * and must not throw. They receive names only, never a value.
 */
export interface EncryptedColumnsObserver {
  column(table: string, column: string): EncryptedColumnCounters;
}

export interface EncryptedColumnCounters {
  encrypted(): void;
  decrypted(): void;
  /** A stored value failed to authenticate (`DataIntegrityError`). */
  integrityFailed(): void;
  /**
   * A legacy plaintext value was read from a column in adoption (`adoptPlaintext`,
   * docs/plaintext-adoption.md). Watch it fall to zero before ending the mode.
   */
  plaintextRead?(): void;
}

export type ResolvedEncryptedColumnsOptions = Required<
  Omit<EncryptedColumnsOptions, 'serverBlindIndexKey' | 'observer'>
> &
  Pick<EncryptedColumnsOptions, 'serverBlindIndexKey' | 'observer'>;

export const SERVER_BLIND_INDEX_KEY_BYTES = 32;

/**
 * Applies the defaults and rejects what cannot work, at start-up.
 * @throws Error naming the bad option (never its value: the key is a secret).
 */
export function resolveEncryptedColumnsOptions(
  options: EncryptedColumnsOptions,
): ResolvedEncryptedColumnsOptions {
  const algorithm = options.algorithm ?? AeadAlgorithm.XChaCha20Poly1305;
  // A numeric enum maps each member back to its name; anything else has none.
  if (typeof AeadAlgorithm[algorithm] !== 'string')
    throw new Error('EncryptedColumnsModule: unknown algorithm');
  const key = options.serverBlindIndexKey;
  if (
    key !== undefined &&
    (!Buffer.isBuffer(key) || key.length !== SERVER_BLIND_INDEX_KEY_BYTES)
  ) {
    throw new Error(
      `EncryptedColumnsModule: serverBlindIndexKey must be a Buffer of ${SERVER_BLIND_INDEX_KEY_BYTES} bytes`,
    );
  }
  if (
    typeof options.liveKeySql !== 'string' ||
    !options.liveKeySql.includes('$1') ||
    !options.liveKeySql.includes('$2')
  ) {
    throw new Error(
      'EncryptedColumnsModule: liveKeySql must be a query over $1 (owner id) and $2 (key version)',
    );
  }
  return {
    algorithm,
    serverBlindIndexKey: key,
    liveKeySql: options.liveKeySql,
    observer: options.observer,
  };
}
