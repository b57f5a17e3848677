import {
  AEAD_KEY_BYTES,
  AeadAlgorithm,
  openSecret,
  seal,
  secureAlloc,
  zeroBuffer,
} from '../crypto';
import { Keyring } from './keyring';
import { deriveSessionKey } from './session-key';

/**
 * A vault entry is a session's keyring sealed under a key that needs the client's share.
 *
 * Plaintext (all integers unsigned big-endian), 6 + 36·N bytes for N key versions:
 *
 *   offset 0   entry format version   1 byte   (1)
 *   offset 1   key count N            1 byte   (1…255)
 *   offset 2   active key version     4 bytes
 *   offset 6   N × { key version 4 bytes ‖ key 32 bytes }
 *
 * Sealed with `seal()` (XChaCha20-Poly1305) under the session key (`session-key.ts`)
 *   sessionKey = hkdfSha256(vaultKey, "vault/session/" + sessionId, 32, salt = clientShare)
 * with AAD = "vault-entry" ‖ 0 ‖ sessionId ‖ 0 ‖ userId, and the envelope's key-version field
 * holding the entry format version. Stored size: 6 (envelope header) + 24 (nonce) + 16 (tag)
 * + 6 + 36·N = 88 bytes for one key version, 124 for two (mid-rotation).
 *
 * The server never keeps the client share (it travels in the client's tokens), so neither a
 * dump of the store nor the vault key, nor both, yields a data key.
 */
export const VAULT_ENTRY_FORMAT_VERSION = 1;
export const MIN_CLIENT_SHARE_BYTES = 16;
export const MAX_KEYRING_VERSIONS = 255;

const PLAINTEXT_HEADER_BYTES = 6;
const KEY_RECORD_BYTES = 4 + AEAD_KEY_BYTES;
const ENVELOPE_OVERHEAD_BYTES = 6 + 24 + 16;

/** Who an entry belongs to, and the client's half of its key. */
export interface VaultSession {
  /** Opaque session identifier; it also names the entry in the store. */
  sessionId: string;
  userId: string;
  /** The client's secret share (≥ 16 random bytes), from its token; never stored by the server. */
  clientShare: Buffer;
}

/** Size in bytes of a sealed entry holding `keyCount` key versions. */
export function sealedVaultEntryBytes(keyCount: number): number {
  return (
    ENVELOPE_OVERHEAD_BYTES +
    PLAINTEXT_HEADER_BYTES +
    keyCount * KEY_RECORD_BYTES
  );
}

/** Serialises and seals `keyring` for `session`. Zeroes every intermediate secret. */
export function sealVaultEntry(
  keyring: Keyring,
  session: VaultSession,
  vaultKey: Buffer,
): Buffer {
  if (keyring.userId !== session.userId)
    throw new Error('vault entry: the keyring belongs to another user');
  const versions = keyring.versions;
  if (versions.length > MAX_KEYRING_VERSIONS) {
    throw new Error(
      `vault entry: a keyring holds at most ${MAX_KEYRING_VERSIONS} key versions`,
    );
  }

  const sessionKey = sessionKeyFor(vaultKey, session);
  const plaintext = secureAlloc(
    PLAINTEXT_HEADER_BYTES + versions.length * KEY_RECORD_BYTES,
  );
  try {
    plaintext[0] = VAULT_ENTRY_FORMAT_VERSION;
    plaintext[1] = versions.length;
    plaintext.writeUInt32BE(keyring.activeVersion, 2);
    let offset = PLAINTEXT_HEADER_BYTES;
    for (const version of versions) {
      const key = keyring.key(version) as Buffer;
      if (key.length !== AEAD_KEY_BYTES)
        throw new Error(`vault entry: data keys are ${AEAD_KEY_BYTES} bytes`);
      plaintext.writeUInt32BE(version, offset);
      key.copy(plaintext, offset + 4);
      offset += KEY_RECORD_BYTES;
    }
    return seal(plaintext, sessionKey, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: VAULT_ENTRY_FORMAT_VERSION,
      aad: entryAad(session),
    });
  } finally {
    zeroBuffer(plaintext, sessionKey);
  }
}

/**
 * Opens a sealed entry into a new Keyring whose keys live in one locked buffer that
 * `Keyring.zero()` wipes and releases.
 * @throws AuthenticationFailedError (wrong client share, other session or user, altered bytes),
 *   or another `Error` for an entry this build cannot read.
 */
export function openVaultEntry(
  sealed: Buffer,
  session: VaultSession,
  vaultKey: Buffer,
): Keyring {
  const sessionKey = sessionKeyFor(vaultKey, session);
  let plaintext: Buffer;
  try {
    const keyForVersion = (version: number) =>
      version === VAULT_ENTRY_FORMAT_VERSION ? sessionKey : undefined;
    plaintext = openSecret(sealed, keyForVersion, entryAad(session));
  } finally {
    zeroBuffer(sessionKey);
  }
  try {
    return parseKeyring(plaintext, session.userId);
  } catch (error) {
    zeroBuffer(plaintext);
    throw error;
  }
}

function parseKeyring(plaintext: Buffer, userId: string): Keyring {
  const count = plaintext[1];
  if (
    plaintext.length < PLAINTEXT_HEADER_BYTES ||
    plaintext[0] !== VAULT_ENTRY_FORMAT_VERSION ||
    count === 0 ||
    plaintext.length !== PLAINTEXT_HEADER_BYTES + count * KEY_RECORD_BYTES
  ) {
    throw new Error('vault entry: unreadable keyring format');
  }
  // The keys are views into `plaintext`, which the keyring keeps and releases when zeroed: no copy
  // per key.
  const keys = new Map<number, Buffer>();
  for (
    let offset = PLAINTEXT_HEADER_BYTES;
    offset < plaintext.length;
    offset += KEY_RECORD_BYTES
  ) {
    keys.set(
      plaintext.readUInt32BE(offset),
      plaintext.subarray(offset + 4, offset + KEY_RECORD_BYTES),
    );
  }
  return new Keyring(userId, keys, plaintext.readUInt32BE(2), [plaintext]);
}

function sessionKeyFor(
  vaultKey: Buffer,
  { sessionId, clientShare }: VaultSession,
): Buffer {
  if (
    !Buffer.isBuffer(clientShare) ||
    clientShare.length < MIN_CLIENT_SHARE_BYTES
  ) {
    throw new Error(
      `vault entry: the client share must be at least ${MIN_CLIENT_SHARE_BYTES} bytes`,
    );
  }
  return deriveSessionKey(vaultKey, sessionId, clientShare);
}

function entryAad({ sessionId, userId }: VaultSession): Buffer {
  return Buffer.from(`vault-entry\u0000${sessionId}\u0000${userId}`, 'utf8');
}
