import {
  deriveSessionKey,
  VAULT_STORE,
  type VaultStore,
} from '@vault-pii/nest-encryption';
import {
  AccessKeyMaterial,
  openSecret,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import { ServerKeys } from '../../src/config/server-keys';
import type { TestApp } from './test-app';

/** An access key's vault entry as the store holds it, and whose key it is. */
export interface SealedAccessKeyEntry {
  sealed: Buffer;
  keyId: string;
  userId: string;
}

/** The sealed vault entry of an access key in a test app's store, or undefined when there is none. */
export async function sealedAccessKeyEntry(
  t: Pick<TestApp, 'app'>,
  keyId: string,
  userId: string,
): Promise<SealedAccessKeyEntry | undefined> {
  const store = t.app.get<VaultStore>(VAULT_STORE, { strict: false });
  const sealed = await store.get(`access-key:${keyId}`);
  return sealed && { sealed, keyId, userId };
}

/**
 * The key versions (active first) an access key's vault entry holds, opened the way the server
 * opens it: the vault key, and the share `secret` derives under `accessKeySecret`. Throws
 * (AuthenticationFailedError) when they do not open it. Decoding follows the entry format of the
 * library's `vault-entry.ts`: a 6-byte header (format, count, active version), then 36 bytes per
 * version (docs/crypto.md#sessions-and-the-key-vault).
 */
export function openAccessKeyEntry(
  entry: SealedAccessKeyEntry,
  secret: string,
  secrets: { vaultKey: Buffer; accessKeySecret: Buffer },
): number[] {
  const material = AccessKeyMaterial.derive(secret, secrets.accessKeySecret);
  if (!material) throw new Error('not an access key secret');
  try {
    return openAccessKeyEntryWithShare(
      entry,
      material.vaultShare,
      secrets.vaultKey,
    );
  } finally {
    material.zero();
  }
}

/**
 * `openAccessKeyEntry` with the share itself (an attacker's guess at it) instead of the secret
 * that derives it.
 */
export function openAccessKeyEntryWithShare(
  entry: SealedAccessKeyEntry,
  share: Buffer,
  vaultKey: Buffer,
): number[] {
  const sessionId = `access-key:${entry.keyId}`;
  const sessionKey = deriveSessionKey(vaultKey, sessionId, share);
  try {
    const plaintext = openSecret(
      entry.sealed,
      (version) => (version === 1 ? sessionKey : undefined),
      Buffer.from(`vault-entry\u0000${sessionId}\u0000${entry.userId}`),
    );
    const versions = [plaintext.readUInt32BE(2)];
    for (let offset = 6; offset < plaintext.length; offset += 36) {
      const version = plaintext.readUInt32BE(offset);
      if (version !== versions[0]) versions.push(version);
    }
    zeroBuffer(plaintext);
    return versions;
  } finally {
    zeroBuffer(sessionKey);
  }
}

/** `openAccessKeyEntry` with a test app's own server secrets. */
export function openAccessKeyEntryOf(
  t: Pick<TestApp, 'app'>,
  entry: SealedAccessKeyEntry,
  secret: string,
): number[] {
  return openAccessKeyEntry(entry, secret, t.app.get(ServerKeys));
}
