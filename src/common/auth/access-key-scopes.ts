/**
 * What an access key may be granted (docs/access-keys.md#scopes): reading or changing the profile,
 * the contacts, the documents. Nothing else: no scope reaches the account, the password, the keys
 * or access-key management, which stay with password sessions.
 */
export const ACCESS_KEY_SCOPES = [
  'profile:read',
  'profile:write',
  'contacts:read',
  'contacts:write',
  'documents:read',
  'documents:write',
] as const;

export type AccessKeyScope = (typeof ACCESS_KEY_SCOPES)[number];

/**
 * The per-key request limit's policy name (`RateLimit-Policy`, a 429's `limit`): the setting
 * `ACCESS_KEY_RATE_LIMIT` (per `ACCESS_KEY_RATE_WINDOW`).
 */
export const ACCESS_KEY_RATE_LIMIT_POLICY = 'ACCESS_KEY_RATE_LIMIT';

/**
 * Route metadata: the scope an access key needs to call the route (absent: sessions only). Set by
 * `@Authenticated({ accessKeyScope })`, read by the auth guard.
 */
export const ACCESS_KEY_SCOPE = 'vault-pii:access-key-scope';
