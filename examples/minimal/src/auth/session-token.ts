import { randomBytes, randomUUID } from 'node:crypto';
import type { VaultSession } from '@vault-pii/nest-encryption';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** user id . session id . client share (32 random bytes, base64url). */
const TOKEN = new RegExp(`^(${UUID})\\.(${UUID})\\.([A-Za-z0-9_-]{43})$`);

/**
 * A new session: its id names the vault entry, and its client share, half of the entry's key, is
 * kept only by the client (inside the token), never by the server.
 */
export function newVaultSession(userId: string): VaultSession {
  return { userId, sessionId: randomUUID(), clientShare: randomBytes(32) };
}

/**
 * The opaque bearer token carrying a session. The user id in it is not trusted: the vault entry
 * only opens for the user id it was sealed for.
 */
export function sessionToken(session: VaultSession): string {
  return `${session.userId}.${session.sessionId}.${session.clientShare.toString('base64url')}`;
}

/** The session a bearer token names, or undefined when it is not shaped like one. */
export function parseSessionToken(token: string): VaultSession | undefined {
  const match = TOKEN.exec(token);
  if (!match) return undefined;
  return {
    userId: match[1],
    sessionId: match[2],
    clientShare: Buffer.from(match[3], 'base64url'),
  };
}
