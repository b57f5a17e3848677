// Public surface of the key vault: what the auth module and the encrypted-column code use.
export { KeyContext } from './key-context';
export { KeyContextMiddleware } from './key-context.middleware';
export { KeyVaultModule } from './key-vault.module';
export { KEY_VAULT_MODULE_OPTIONS } from './key-vault.module-definition';
export type { KeyVaultModuleExtras } from './key-vault.module-definition';
export {
  KEY_VAULT_DEFAULTS,
  resolveKeyVaultOptions,
} from './key-vault.options';
export type {
  KeyVaultModuleOptions,
  MemoryVaultStoreConfig,
  RedisVaultStoreConfig,
  ResolvedKeyVaultOptions,
  VaultStoreConfig,
} from './key-vault.options';
export {
  KeyUnavailableError,
  SessionLockedError,
  VaultUnavailableError,
} from './key-vault.errors';
export { Keyring } from './keyring';
export { SessionKeyVault } from './session-key-vault';
export type { RevokeAllOptions } from './session-key-vault';
export { MIN_CLIENT_SHARE_BYTES, sealedVaultEntryBytes } from './vault-entry';
export type { VaultSession } from './vault-entry';
export { VAULT_STORE } from './vault-store';
export type { VaultStore } from './vault-store';
export { MemoryVaultStore } from './stores/memory-vault-store';
export { RedisVaultStore } from './stores/redis-vault-store';
