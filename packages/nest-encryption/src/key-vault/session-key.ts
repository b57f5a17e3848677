import { hkdfSha256 } from '../crypto';

/**
 * The key that seals one session's vault entry:
 *   HKDF-SHA256(ikm = vaultKey, salt = clientShare, info = "vault-pii/v1/vault/session/" + sessionId)
 * In locked memory (`src/crypto/hkdf.ts` computes it there): release it with `zeroBuffer` right
 * after use.
 */
export function deriveSessionKey(
  vaultKey: Buffer,
  sessionId: string,
  clientShare: Buffer,
): Buffer {
  return hkdfSha256(vaultKey, `vault/session/${sessionId}`, 32, clientShare);
}
