import type { IncomingMessage } from 'node:http';
import type { ErrorCode } from '../problem/error-codes';

/** The protection space of every bearer-protected route (RFC 6750 §3 `realm`). */
export const BEARER_REALM = 'vault-pii-api';

/**
 * What each 401 of a bearer-protected route says in `WWW-Authenticate` (RFC 6750 §3.1):
 * `invalid_token` for a token that was presented and refused. A locked session is one too: its
 * token verified, but the session it names has ended (logout, revocation, timeout), which is
 * RFC 6750's "revoked"; the client's remedy is the same, a new login. Descriptions are fixed
 * text: no token, claim or account detail.
 */
const INVALID_TOKEN_DESCRIPTIONS: Partial<Record<ErrorCode, string>> = {
  invalid_token: 'The access token is invalid or has expired',
  session_locked: 'The session of this access token has ended; log in again',
  unauthorized: 'The access token is invalid or has expired',
  access_key_expired: 'The access key has expired',
};

/** The requests that reached a route needing an access token, and whether they carried one. */
const bearerRequests = new WeakMap<IncomingMessage, { presented: boolean }>();

/**
 * Called by the JWT guard on every route that needs an access token, before the token is checked,
 * so that the problem filter can answer its 401s with a challenge. A request counts as presenting
 * a token when its `Authorization` header uses the Bearer scheme, well formed or not; a token in a
 * query string, a cookie or another scheme is no token at all (docs/security.md#access-tokens).
 */
export function markBearerProtected(request: IncomingMessage): void {
  const header = request.headers.authorization;
  bearerRequests.set(request, {
    presented: typeof header === 'string' && /^bearer(\s|$)/i.test(header),
  });
}

/**
 * The `WWW-Authenticate` value for a 401 answering `request` with `code`, or undefined when none
 * is due: a public route (login, refresh, recover: their credentials are in the body, not a bearer
 * token), or a wrong password on a protected route (`invalid_credentials`: the token was fine,
 * so no challenge tells the client to drop it).
 */
export function bearerChallengeFor(
  request: IncomingMessage,
  code: ErrorCode,
  /** For `insufficient_scope`: the scope the route needs (none: password sessions only). */
  neededScope?: string,
): string | undefined {
  const bearer = bearerRequests.get(request);
  // RFC 6750 §3.1: a 403 for a token without the privileges the request needs.
  if (code === 'insufficient_scope')
    return bearer
      ? `Bearer realm="${BEARER_REALM}", error="insufficient_scope"${neededScope ? `, scope="${neededScope}"` : ''}`
      : undefined;
  const description = INVALID_TOKEN_DESCRIPTIONS[code];
  if (!bearer || !description) return undefined;
  // RFC 6750 §3.1: a request without credentials gets no error code, only the challenge.
  if (!bearer.presented) return `Bearer realm="${BEARER_REALM}"`;
  return `Bearer realm="${BEARER_REALM}", error="invalid_token", error_description="${description}"`;
}
