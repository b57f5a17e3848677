import { Logger } from '@nestjs/common';
import { SelectQueryBuilder } from 'typeorm';
import type { DataSource, EntityMetadata } from 'typeorm';
import { BlindIndexes, BlindIndexSubscriber } from './blind-index';
import {
  ColumnEncryption,
  EncryptedValueTransformer,
} from './encrypted-column';
import {
  EncryptedColumnsOptions,
  resolveEncryptedColumnsOptions,
} from './encrypted-columns.options';
import { EntityClass } from './encryption-owner';
import { KeyVersionWriteGuard } from './key-version-guard';
import {
  installTypeOrmAdapter,
  replaceColumnTransformers,
} from './typeorm-adapter';

/**
 * Everything `@EncryptedColumn` and `@BlindIndex` need on one initialised DataSource, with that
 * DataSource's own options (two apps in one process keep theirs apart):
 * - installs the TypeORM adapter (its version check first; once per process);
 * - binds each encrypted column of this DataSource to `options.algorithm`: TypeORM builds one
 *   `ColumnMetadata` per DataSource, and its public `transformer` is replaced by a bound copy of
 *   the decorator's (which, unbound, refuses to work);
 * - registers `BlindIndexSubscriber` (with the server blind-index key) and `KeyVersionWriteGuard`
 *   (with `options.liveKeySql`), so no encrypted write commits under a destroyed key version
 *   whether or not the key-rotation module is loaded.
 *
 * Columns in plaintext adoption (`adoptPlaintext`) are logged by name at each start, since they
 * read unauthenticated legacy values until the mode ends (docs/plaintext-adoption.md).
 * `EncryptedColumnsModule` also warns, once the app has started, when no `PlaintextAdoptionModule`
 * runs the background pass for them (`warnIfNoPlaintextAdoptionPass`).
 *
 * `EncryptedColumnsModule` calls it for the app's DataSource; call it directly only for a
 * DataSource built by hand (tests, benchmarks).
 *
 * @returns the DataSource's blind-index computations, for searches.
 * @throws Error at start-up: a TypeORM version the adapter was not verified against, a
 *   DataSource from another copy of TypeORM than the one the adapter patches, bad options, a
 *   server-keyed index without a key, or a DataSource already installed.
 */
export function installEncryptedColumns(
  dataSource: DataSource,
  options: EncryptedColumnsOptions,
): BlindIndexes {
  if (!dataSource.isInitialized)
    throw new Error(
      'installEncryptedColumns: initialize the DataSource first (its entity metadata is built then)',
    );
  if (
    dataSource.subscribers.some(
      (subscriber) => subscriber instanceof KeyVersionWriteGuard,
    )
  )
    throw new Error(
      'installEncryptedColumns: encrypted columns are already installed on this DataSource',
    );
  // The adapter patches the TypeORM this library resolves; a DataSource built by another copy
  // (a second typeorm in node_modules) would bypass every guard without a word.
  if (!(dataSource.createQueryBuilder() instanceof SelectQueryBuilder))
    throw new Error(
      'installEncryptedColumns: this DataSource comes from another copy of typeorm than the one ' +
        '@vault-pii/nest-encryption resolves; install a single typeorm (npm ls typeorm)',
    );
  installTypeOrmAdapter();
  const resolved = resolveEncryptedColumnsOptions(options);
  const blindIndexes = new BlindIndexes(resolved.serverBlindIndexKey);
  blindIndexes.assertKeysFor(
    dataSource.entityMetadatas
      .map((metadata) => metadata.target)
      .filter((target): target is EntityClass => typeof target === 'function'),
  );
  bindEncryptedColumns(dataSource.entityMetadatas, {
    algorithm: resolved.algorithm,
    observer: resolved.observer,
  });
  dataSource.subscribers.push(
    new BlindIndexSubscriber(blindIndexes),
    new KeyVersionWriteGuard(resolved.liveKeySql),
  );
  logAdoptingColumns(dataSource.entityMetadatas);
  return blindIndexes;
}

/** `Entity.property` of every column in plaintext adoption, for the start-up log. */
export function adoptingColumnNames(
  metadatas: readonly EntityMetadata[],
): string[] {
  return metadatas.flatMap((metadata) =>
    metadata.columns
      .filter((column) =>
        [column.transformer]
          .flat()
          .some(
            (transformer) =>
              transformer instanceof EncryptedValueTransformer &&
              transformer.adoptsPlaintext,
          ),
      )
      .map((column) => `${metadata.name}.${column.propertyName}`),
  );
}

/** DataSources whose adopting columns have a background pass (`PlaintextAdoptionJob` notes itself). */
const adoptionPasses = new WeakSet<DataSource>();

/** Called by `PlaintextAdoptionJob` at module init: `dataSource`'s adopting columns have a pass. */
export function notePlaintextAdoptionPass(dataSource: DataSource): void {
  adoptionPasses.add(dataSource);
}

/**
 * Warns when `dataSource` has adopting columns but no background pass is loaded, so that only rows
 * the app writes become ciphertext. Asked once every module has started (`EncryptedColumnsModule`
 * at bootstrap): at `installEncryptedColumns` time the pass may not be created yet.
 * @returns whether it warned.
 */
export function warnIfNoPlaintextAdoptionPass(dataSource: DataSource): boolean {
  const names = adoptingColumnNames(dataSource.entityMetadatas);
  if (names.length === 0 || adoptionPasses.has(dataSource)) return false;
  new Logger('EncryptedColumns').warn(
    `columns adopt plaintext but PlaintextAdoptionModule is not loaded: only values the app writes become ciphertext (${names.join(', ')})`,
  );
  return true;
}

function logAdoptingColumns(metadatas: readonly EntityMetadata[]): void {
  const names = adoptingColumnNames(metadatas);
  if (names.length === 0) return;
  new Logger('EncryptedColumns').warn(
    `columns in plaintext adoption (legacy values read without authentication until the mode ends): ${names.join(', ')}`,
  );
}

function bindEncryptedColumns(
  metadatas: readonly EntityMetadata[],
  encryption: ColumnEncryption,
): void {
  replaceColumnTransformers(metadatas, (transformer) =>
    transformer instanceof EncryptedValueTransformer
      ? (transformer.boundTo(encryption) as typeof transformer)
      : transformer,
  );
}
