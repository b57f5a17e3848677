import { randomBytes, timingSafeEqual } from 'node:crypto';
import sodium from 'sodium-native';
import { AeadAlgorithm, openSecret, seal } from './aead';
import { AuthenticationFailedError, InvalidCryptoInputError } from './errors';
import { SHA256_BYTES, hkdfSha256Into, sha256Into } from './hkdf';
import { secureAlloc, zeroBuffer } from './secure-memory';

/**
 * Access keys (docs/design.md#access-keys): a machine's bearer secret that unlocks its owner's
 * data keys without the password.
 *
 * The secret is `vpk_` followed by 32 random bytes in base64url (43 characters). With the server's
 * access-key secret (`ACCESS_KEY_SERVER_SECRET_BYTES`, derived from the master key) as HKDF salt,
 * it yields, by HKDF-SHA256 with one label each:
 * - `lookup`: the 32 bytes stored to find the key (the secret itself is never stored);
 * - `x25519-seed`: the seed of an X25519 key pair (`crypto_box_seed_keypair`);
 * - `idempotency`: the secret that keys idempotency records of the key's requests;
 * - `vault-share`: the client share of the key's session-vault entry, which keeps its opened data
 *   keys between requests as a session's are kept (the server never stores it).
 *
 * The server keeps only the public half, itself sealed under a key derived from the server secret
 * (so a database alone neither shows it nor lets anyone swap in their own), and seals each data key
 * to it with libsodium's sealed box (ephemeral X25519, XSalsa20-Poly1305). A sealed box has no
 * associated data, so the wrap's context (user, access key, key version) is bound by a 16-byte
 * SHA-256 tag inside the sealed plaintext, checked on opening. Anyone holding the public key can
 * seal to it — which is what lets a key rotation reach every live access key without its secret —
 * and only the secret together with the server secret opens a wrap.
 */
export const ACCESS_KEY_PREFIX = 'vpk_';
export const ACCESS_KEY_SECRET_BYTES = 32;
export const ACCESS_KEY_SERVER_SECRET_BYTES = 32;
export const ACCESS_KEY_LOOKUP_BYTES = 32;
const CONTEXT_TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const ACCESS_KEY_PATTERN = /^vpk_([A-Za-z0-9_-]{43})$/;

const LABELS = {
  lookup: Buffer.from('vault-pii/v1/access-key/lookup'),
  seed: Buffer.from('vault-pii/v1/access-key/x25519-seed'),
  idempotency: Buffer.from('vault-pii/v1/access-key/idempotency'),
  vaultShare: Buffer.from('vault-pii/v1/access-key/vault-share'),
  publicKeySeal: Buffer.from('vault-pii/v1/access-key/public-key-seal'),
};

/** Where a sealed data key belongs: opening it for another user, access key or version fails. */
export interface AccessKeyWrapContext {
  userId: string;
  accessKeyId: string;
  keyVersion: number;
}

/** A new access key secret: show it once, store only `AccessKeyMaterial.lookup`. */
export function generateAccessKeySecret(): string {
  return `${ACCESS_KEY_PREFIX}${randomBytes(ACCESS_KEY_SECRET_BYTES).toString('base64url')}`;
}

/** Whether a bearer token is shaped like an access key (and so is never read as a JWT). */
export function looksLikeAccessKey(token: string): boolean {
  return token.startsWith(ACCESS_KEY_PREFIX);
}

/**
 * What an access key secret yields with the server's access-key secret. Its secrets are in locked
 * memory: call `zero()` when done. The key pair is derived on first use (one X25519 base-point
 * multiplication): a request served from the vault entry needs only the HMACs.
 */
export class AccessKeyMaterial {
  private keyPair?: { publicKey: Buffer; secretKey: Buffer };
  private zeroed = false;

  private constructor(
    /** Finds the stored key; safe to store (a one-way function of secret and server secret). */
    readonly lookup: Buffer,
    /** The seed of the key pair (locked memory). */
    private readonly seed: Buffer,
    /** Keys idempotency records of this key's requests (locked memory). */
    readonly idempotencySecret: Buffer,
    /** The client share of the key's vault entry (locked memory; never stored). */
    readonly vaultShare: Buffer,
  ) {}

  /**
   * @returns undefined when `token` is not a well-formed access key (no derivation is spent on it).
   * @throws InvalidCryptoInputError when the server secret is not 32 bytes.
   */
  static derive(
    token: string,
    serverSecret: Buffer,
  ): AccessKeyMaterial | undefined {
    if (serverSecret.length !== ACCESS_KEY_SERVER_SECRET_BYTES)
      throw new InvalidCryptoInputError(
        `the access-key server secret is ${ACCESS_KEY_SERVER_SECRET_BYTES} bytes`,
      );
    const match = ACCESS_KEY_PATTERN.exec(token);
    if (!match) return undefined;
    const secret = secureAlloc(ACCESS_KEY_SECRET_BYTES);
    const decoded = Buffer.from(match[1], 'base64url');
    try {
      // A 43-character base64url string can carry 2 stray bits: only the canonical spelling counts.
      if (
        decoded.length !== ACCESS_KEY_SECRET_BYTES ||
        decoded.toString('base64url') !== match[1]
      )
        return undefined;
      decoded.copy(secret);
      const derived = (label: Buffer, bytes: Buffer): Buffer => {
        hkdfSha256Into(bytes, secret, label, serverSecret);
        return bytes;
      };
      return new AccessKeyMaterial(
        derived(LABELS.lookup, Buffer.alloc(ACCESS_KEY_LOOKUP_BYTES)),
        derived(LABELS.seed, secureAlloc(sodium.crypto_box_SEEDBYTES)),
        derived(LABELS.idempotency, secureAlloc(SHA256_BYTES)),
        derived(LABELS.vaultShare, secureAlloc(SHA256_BYTES)),
      );
    } finally {
      zeroBuffer(secret, decoded);
    }
  }

  /** The X25519 public key data keys are sealed to (`sealDataKeyForAccessKey`). */
  get publicKey(): Buffer {
    return this.pair().publicKey;
  }

  /**
   * The data key of a wrap made by `sealDataKeyForAccessKey`, in locked memory (zero it).
   * @throws AuthenticationFailedError when the wrap is not for this key pair or this context.
   */
  openDataKey(sealed: Buffer, context: AccessKeyWrapContext): Buffer {
    const plaintextBytes = sealed.length - sodium.crypto_box_SEALBYTES;
    if (plaintextBytes !== CONTEXT_TAG_BYTES + DATA_KEY_BYTES)
      throw new AuthenticationFailedError();
    const plaintext = secureAlloc(plaintextBytes);
    try {
      if (
        !sodium.crypto_box_seal_open(
          plaintext,
          sealed,
          this.pair().publicKey,
          this.pair().secretKey,
        )
      )
        throw new AuthenticationFailedError();
      const tag = contextTag(context);
      if (!timingSafeEqual(plaintext.subarray(0, CONTEXT_TAG_BYTES), tag))
        throw new AuthenticationFailedError();
      const dataKey = secureAlloc(DATA_KEY_BYTES);
      plaintext.copy(dataKey, 0, CONTEXT_TAG_BYTES);
      return dataKey;
    } finally {
      zeroBuffer(plaintext);
    }
  }

  zero(): void {
    this.zeroed = true;
    zeroBuffer(this.seed, this.idempotencySecret, this.vaultShare);
    if (this.keyPair) zeroBuffer(this.keyPair.secretKey);
  }

  private pair(): { publicKey: Buffer; secretKey: Buffer } {
    if (!this.keyPair) {
      // Never a key pair of a zeroed seed: it would be one anyone can compute.
      if (this.zeroed) throw new AuthenticationFailedError();
      const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
      const secretKey = secureAlloc(sodium.crypto_box_SECRETKEYBYTES);
      sodium.crypto_box_seed_keypair(publicKey, secretKey, this.seed);
      this.keyPair = { publicKey, secretKey };
    }
    return this.keyPair;
  }
}

/**
 * `dataKey` sealed to an access key's public key, with its context bound inside (see above): what
 * the server stores per access key and data key version, made without the access key's secret.
 */
export function sealDataKeyForAccessKey(
  dataKey: Buffer,
  publicKey: Buffer,
  context: AccessKeyWrapContext,
): Buffer {
  if (dataKey.length !== DATA_KEY_BYTES)
    throw new InvalidCryptoInputError(`a data key is ${DATA_KEY_BYTES} bytes`);
  if (publicKey.length !== sodium.crypto_box_PUBLICKEYBYTES)
    throw new InvalidCryptoInputError('not an X25519 public key');
  const plaintext = secureAlloc(CONTEXT_TAG_BYTES + DATA_KEY_BYTES);
  try {
    contextTag(context).copy(plaintext, 0);
    dataKey.copy(plaintext, CONTEXT_TAG_BYTES);
    const sealed = Buffer.alloc(plaintext.length + sodium.crypto_box_SEALBYTES);
    sodium.crypto_box_seal(sealed, plaintext, publicKey);
    return sealed;
  } finally {
    zeroBuffer(plaintext);
  }
}

/**
 * An access key's public key sealed (XChaCha20-Poly1305) under a key derived from the server
 * secret, bound to the key's id and user: stored instead of the bare public key, so that a database
 * writer cannot substitute a key pair of their own (and be sealed the next data key) nor forge a
 * wrap, and a database reader does not learn it.
 */
export function sealAccessKeyPublicKey(
  publicKey: Buffer,
  serverSecret: Buffer,
  owner: { userId: string; accessKeyId: string },
): Buffer {
  const key = publicKeySealKey(serverSecret);
  try {
    return seal(publicKey, key, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: 1,
      aad: publicKeyAad(owner),
    });
  } finally {
    zeroBuffer(key);
  }
}

/**
 * The public key `sealAccessKeyPublicKey` sealed.
 * @throws AuthenticationFailedError when it was sealed for another key, user or server secret, or altered.
 */
export function openAccessKeyPublicKey(
  sealed: Buffer,
  serverSecret: Buffer,
  owner: { userId: string; accessKeyId: string },
): Buffer {
  const key = publicKeySealKey(serverSecret);
  try {
    const opened = openSecret(sealed, () => key, publicKeyAad(owner));
    try {
      return Buffer.from(opened);
    } finally {
      zeroBuffer(opened);
    }
  } finally {
    zeroBuffer(key);
  }
}

function publicKeySealKey(serverSecret: Buffer): Buffer {
  if (serverSecret.length !== ACCESS_KEY_SERVER_SECRET_BYTES)
    throw new InvalidCryptoInputError(
      `the access-key server secret is ${ACCESS_KEY_SERVER_SECRET_BYTES} bytes`,
    );
  const key = secureAlloc(32);
  hkdfSha256Into(key, serverSecret, LABELS.publicKeySeal, Buffer.alloc(0));
  return key;
}

function publicKeyAad({
  userId,
  accessKeyId,
}: {
  userId: string;
  accessKeyId: string;
}): Buffer {
  return Buffer.from(
    `access-key-public-key\u0000${userId}\u0000${accessKeyId}`,
    'utf8',
  );
}

function contextTag({
  userId,
  accessKeyId,
  keyVersion,
}: AccessKeyWrapContext): Buffer {
  if (!Number.isInteger(keyVersion) || keyVersion < 0)
    throw new InvalidCryptoInputError('key version must be an integer ≥ 0');
  const digest = Buffer.alloc(SHA256_BYTES);
  sha256Into(
    digest,
    Buffer.from(
      `access-key-wrap\u0000${userId}\u0000${accessKeyId}\u0000${keyVersion}`,
      'utf8',
    ),
  );
  return digest.subarray(0, CONTEXT_TAG_BYTES);
}
