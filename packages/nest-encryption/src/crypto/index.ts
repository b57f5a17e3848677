/**
 * `@vault-pii/nest-encryption/crypto`: the pure primitives, with no Nest and no TypeORM. Buffers
 * in, Buffers out; keys in locked memory. Also what the library's own modules import from crypto/
 * (never a file of it), so that one module instance serves both.
 */
import '../internal/single-instance';

// Envelope AEAD (XChaCha20-Poly1305 / AES-256-GCM), one message.
export {
  AEAD_KEY_BYTES,
  AeadAlgorithm,
  ENVELOPE_FORMAT_VERSION,
  HEADER_BYTES,
  TAG_BYTES,
  PreparedAad,
  open,
  openAndUse,
  openSecret,
  readEnvelopeHeader,
  seal,
} from './aead';
export type { EnvelopeHeader, SealOptions } from './aead';

// Streaming AEAD (files).
export {
  DEFAULT_STREAM_CHUNK_BYTES,
  MAX_STREAM_CHUNK_BYTES,
  MIN_STREAM_CHUNK_BYTES,
  STREAM_FILE_SALT_BYTES,
  STREAM_FORMAT_VERSION,
  STREAM_HEADER_BYTES,
  StreamAlgorithm,
  createDecryptStream,
  createEncryptStream,
  readStreamHeader,
} from './stream-aead';
export type { StreamEncryptOptions, StreamHeader } from './stream-aead';

// HMAC / HKDF / SHA-256.
export {
  SHA256_BYTES,
  hkdfSha256Into,
  hmacSha256,
  hmacSha256Into,
  sha256Into,
} from './hkdf';

// Password KDF (argon2id) and key derivation.
export {
  CURRENT_PASSWORD_KDF_VERSION,
  DERIVED_KEY_BYTES,
  KDF_SALT_BYTES,
  OWASP_MINIMUM_ARGON2_PARAMS,
  derivePasswordMasterKey,
  generateSalt,
  hkdfSha256,
  keyArgon2Output,
  passwordKdfVersion,
  splitPasswordMasterKey,
  passwordIdempotencySecret,
  verifiersMatch,
} from './kdf';
export type {
  Argon2Params,
  PasswordKdfSecrets,
  PasswordKdfVersion,
  PasswordKeys,
} from './kdf';

// Data keys and recovery codes.
export { generateDataKey, unwrapDataKey, wrapDataKey } from './data-key';
export type { DataKeyWrapContext } from './data-key';
export {
  RECOVERY_CODE_CHARACTERS,
  deriveRecoveryKek,
  generateRecoveryCode,
  normalizeRecoveryCode,
} from './recovery-code';

// Access keys (a machine's secret that unlocks its owner's data keys; docs/design.md#access-keys).
export {
  ACCESS_KEY_LOOKUP_BYTES,
  ACCESS_KEY_PREFIX,
  ACCESS_KEY_SECRET_BYTES,
  ACCESS_KEY_SERVER_SECRET_BYTES,
  AccessKeyMaterial,
  generateAccessKeySecret,
  looksLikeAccessKey,
  openAccessKeyPublicKey,
  sealAccessKeyPublicKey,
  sealDataKeyForAccessKey,
} from './access-key';
export type { AccessKeyWrapContext } from './access-key';

// Locked, zeroed memory for keys.
export {
  isSecureBuffer,
  secureAlloc,
  secureCopy,
  secureMemoryLocked,
  secureMemoryStatus,
  secureTakeOver,
  zeroBuffer,
} from './secure-memory';
export type { SecureMemoryStatus } from './secure-memory';

// Blind indexes (keyed equality search).
export {
  BLIND_INDEX_BYTES,
  computeBlindIndex,
  deriveBlindIndexKey,
  normalizePhone,
} from './blind-index';

// Errors.
export {
  AuthenticationFailedError,
  CryptoError,
  InvalidCryptoInputError,
  TruncatedEnvelopeError,
  UnknownKeyVersionError,
  UnsupportedEnvelopeError,
} from './errors';
