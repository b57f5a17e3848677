/**
 * `@vault-pii/nest-encryption`: per-owner encryption of TypeORM columns for NestJS, with a session
 * key vault and key rotation. Named exports only, one section per part, so that a name is public
 * because it is listed here (README.md#public-api).
 */
import './internal/single-instance';

// --- Errors: what the library throws on purpose, each with a code for the app to map to HTTP ---
export { EncryptionError } from './errors';
export type { EncryptionErrorCode } from './errors';
export {
  KeyUnavailableError,
  SessionLockedError,
  VaultUnavailableError,
} from './key-vault/key-vault.errors';
export {
  DataIntegrityError,
  EncryptedColumnQueryError,
  RotationInProgressError,
  UnboundEncryptedColumnError,
} from './encrypted-column/encrypted-column.errors';
export { EncryptedWriteOutsideTransactionError } from './encrypted-column/key-version-guard';
// Options name the cipher; the rest of the primitives are in `@vault-pii/nest-encryption/crypto`.
export { AeadAlgorithm } from './crypto';

// --- Vault: sessions' keyrings, sealed between requests, and the per-request key context ---
export { KeyVaultModule } from './key-vault/key-vault.module';
export type {
  KeyVaultModuleOptions,
  KeyVaultObserver,
  MemoryVaultStoreConfig,
  RedisVaultStoreConfig,
  VaultStoreConfig,
} from './key-vault/key-vault.options';
export { SessionKeyVault } from './key-vault/session-key-vault';
export type {
  KeyringUnlocked,
  KeyringUnlockedListener,
  RevokeAllOptions,
  UnlockOptions,
} from './key-vault/session-key-vault';
export type { VaultSession } from './key-vault/vault-entry';
export { deriveSessionKey } from './key-vault/session-key';
export { KeyContext } from './key-vault/key-context';
export { KeyContextMiddleware } from './key-vault/key-context.middleware';
export { Keyring } from './key-vault/keyring';
export { VAULT_STORE } from './key-vault/vault-store';
export type { VaultStore } from './key-vault/vault-store';
export { MemoryVaultStore } from './key-vault/stores/memory-vault-store';
export type { MemoryVaultStoreOptions } from './key-vault/stores/memory-vault-store';
// The Redis store's module loads ioredis (an optional peer): built through the factory, typed here.
export { createRedisVaultStore } from './key-vault/stores/create-vault-store';
export type {
  RedisVaultStore,
  RedisVaultStoreOptions,
} from './key-vault/stores/redis-vault-store';

// --- Columns: @EncryptedColumn, blind indexes, and their binding to a DataSource ---
export {
  EncryptedColumn,
  EncryptedValueTransformer,
} from './encrypted-column/encrypted-column';
export type { EncryptedColumnOptions } from './encrypted-column/encrypted-column';
export { BlindIndex, BlindIndexes } from './encrypted-column/blind-index';
export type { BlindIndexOptions } from './encrypted-column/blind-index';
export { EncryptionOwner } from './encrypted-column/encryption-owner';
export type { EntityClass } from './encrypted-column/encryption-owner';
export { EncryptedColumnsModule } from './encrypted-column/encrypted-columns.module';
export type {
  EncryptedColumnCounters,
  EncryptedColumnsObserver,
  EncryptedColumnsOptions,
} from './encrypted-column/encrypted-columns.options';
export { installEncryptedColumns } from './encrypted-column/install-encrypted-columns';
export { KeyVersionWriteGuard } from './encrypted-column/key-version-guard';

// --- Key hierarchy: a user's data keys wrapped under their password and recovery code ---
export {
  ENCRYPTION_SECRET_LABELS,
  deriveEncryptionSecrets,
} from './key-hierarchy/encryption-secrets';
export type { EncryptionSecrets } from './key-hierarchy/encryption-secrets';
export { UserKeyHierarchy } from './key-hierarchy/user-key-hierarchy';
export type {
  DeriveMasterKey,
  KeyOwner,
  PasswordMaterial,
  PasswordMaterialWithIdempotencySecret,
  RecoveryMaterial,
  StoredPassword,
  UserKeyHierarchyOptions,
  VerifiedPasswordKeys,
  WrappedDataKey,
} from './key-hierarchy/user-key-hierarchy';

// --- Rotation: which columns hold ciphertext, the batched re-encryption, and the rotation engine ---
export {
  EncryptedEntityDiscoveryError,
  discoverEncryptedEntities,
} from './rotation/encrypted-entity-catalog';
export type {
  EncryptedColumnRef,
  EncryptedEntity,
} from './rotation/encrypted-entity-catalog';
/** Per-owner PostgreSQL advisory lock ids, for an app's own locks beside the library's (`key-rotation`, `plaintext-adoption`). */
export { advisoryLockKey } from './internal/advisory-lock-key';
export { keyVersionBytes, rotationSqlFor } from './rotation/rotation-sql';
export type { RotatedTable, RotationSql } from './rotation/rotation-sql';
export {
  ROTATION_BATCH_ROWS,
  ReencryptionBatches,
} from './rotation/reencryption-batches';
export type {
  ReencryptionBatch,
  ReencryptionHooks,
  ReencryptionPredicate,
} from './rotation/reencryption-batches';
export {
  DEFAULT_KEY_ROTATION_TABLES,
  SqlKeyRotationStore,
} from './rotation/key-rotation-store';
export type {
  KeyRotationStore,
  KeyRotationTables,
  KeyRotationTablesOverrides,
  PendingRotation,
  Queryable,
} from './rotation/key-rotation-store';
export type { RotationParticipant } from './rotation/rotation-participant';
export type {
  KeyRotationModuleOptions,
  KeyRotationObserver,
  RotationOutcome,
} from './rotation/key-rotation.options';
export { KeyRotationModule } from './rotation/key-rotation.module';
export { KeyRotationJob } from './rotation/key-rotation.job';
export type { RotationReport } from './rotation/key-rotation.runner';

// --- Plaintext adoption: legacy plaintext columns read while each owner's data becomes ciphertext ---
export { AdoptingEncryptedValueTransformer } from './encrypted-column/encrypted-column';
export {
  ADOPTED_PLAINTEXT_MARKER,
  decodeAdoptedPlaintext,
  adoptedPlaintextPredicate,
  encodeAdoptedPlaintext,
  isAdoptedPlaintext,
  MalformedAdoptedPlaintextError,
} from './encrypted-column/encrypted-value-codec';
export {
  ADOPTABLE_SOURCE_TYPES,
  endPlaintextAdoptionSql,
  plaintextAdoptionSql,
} from './adoption/plaintext-adoption-sql';
export type {
  AdoptableSourceType,
  PlaintextAdoptionColumn,
} from './adoption/plaintext-adoption-sql';
export {
  adoptingEntitiesOf,
  countAdoptedPlaintext,
  UnknownAdoptingEntityError,
} from './adoption/plaintext-adoption-status';
export type {
  AdoptingColumnCount,
  AdoptingEntity,
  AdoptingEntityCount,
  CountOptions,
  PlaintextAdoptionCount,
  ScanProgress,
} from './adoption/plaintext-adoption-status';
export { PlaintextAdoptionModule } from './adoption/plaintext-adoption.module';
export {
  PLAINTEXT_ADOPTION_LOCK_NAMESPACE,
  PlaintextAdoptionJob,
} from './adoption/plaintext-adoption.job';
export type { PlaintextAdoptionReport } from './adoption/plaintext-adoption.job';
export type {
  PlaintextAdoptionModuleOptions,
  PlaintextAdoptionObserver,
  PlaintextAdoptionOutcome,
} from './adoption/plaintext-adoption.options';
