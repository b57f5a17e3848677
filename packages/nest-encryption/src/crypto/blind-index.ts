import { hmacSha256Into } from './hkdf';
import { hkdfSha256 } from './kdf';

/**
 * Blind index: HMAC-SHA256 of a normalised value, for equality search on encrypted fields
 * (docs/design.md#blind-indexes). Kept at the full 32 bytes: truncation would only add false
 * matches (and break the uniqueness of the login email), while the key — per user, or the server's
 * for the login email — is what keeps the index from being a dictionary target.
 */
export const BLIND_INDEX_BYTES = 32;

export function computeBlindIndex(
  key: Buffer,
  normalizedValue: string,
): Buffer {
  // The index is stored, not secret; the key's HMAC states stay in locked memory (`hkdf.ts`).
  const index = Buffer.allocUnsafe(BLIND_INDEX_BYTES);
  hmacSha256Into(index, key, Buffer.from(normalizedValue, 'utf8'));
  return index;
}

/** Per-user blind-index key for one purpose (e.g. `contacts.email`), derived from a DEK; in locked memory. */
export function deriveBlindIndexKey(dataKey: Buffer, purpose: string): Buffer {
  return hkdfSha256(dataKey, `blind-index/${purpose}`);
}

/** Phone as digits with a leading `+` (issue 5): `+1 (555) 010-9999` → `+15550109999`. */
export function normalizePhone(phone: string): string {
  return `+${phone.replace(/\D/g, '')}`;
}
