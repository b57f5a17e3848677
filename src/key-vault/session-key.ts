import { hkdfSha256Into } from '../crypto/hkdf';
import { secureAlloc, zeroBuffer } from '../crypto/secure-memory';

/** `src/crypto`'s HKDF label prefix followed by the vault's label (checked by the spec). */
const SESSION_KEY_INFO_PREFIX = 'vault-pii/v1/vault/session/';
const SESSION_KEY_BYTES = 32;

/**
 * The key that seals one session's vault entry:
 *   HKDF-SHA256(ikm = vaultKey, salt = clientShare, info = "vault-pii/v1/vault/session/" + sessionId)
 * — the value `hkdfSha256(vaultKey, 'vault/session/' + sessionId, 32, clientShare)` from
 * `src/crypto` returns. In locked memory: release it with `zeroBuffer` right after use.
 */
export function deriveSessionKey(vaultKey: Buffer, sessionId: string, clientShare: Buffer): Buffer {
  const sessionKey = secureAlloc(SESSION_KEY_BYTES);
  try {
    hkdfSha256Into(sessionKey, vaultKey, Buffer.from(`${SESSION_KEY_INFO_PREFIX}${sessionId}`, 'utf8'), clientShare);
    return sessionKey;
  } catch (error) {
    zeroBuffer(sessionKey);
    throw error;
  }
}
