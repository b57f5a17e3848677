import { createParamDecorator, ExecutionContext } from '@nestjs/common';

/**
 * Who is calling: set by the JWT strategy once the token verified and the vault unlocked, or by
 * the access-key authenticator once an access key's data keys opened (`accessKey` set).
 */
export interface AuthenticatedSession {
  userId: string;
  /**
   * Hex SHA-256 of the sid: the session's key in the vault and the database; for an access key,
   * `access-key:<id>` (it names no session: access keys reach no session route).
   */
  sessionKeyId: string;
  /** Empty for an access key. */
  sid: Buffer;
  /** The session's client share; for an access key, its idempotency secret. */
  clientShare: Buffer;
  /** Set when the caller is an access key (docs/access-keys.md), not a password session. */
  accessKey?: { id: string; scopes: readonly string[] };
}

/**
 * An access key's `sessionKeyId`: also the name of its vault entry and the scope of its
 * idempotency records (docs/access-keys.md#the-vault-entry).
 */
export function accessKeySessionKeyId(accessKeyId: string): string {
  return `access-key:${accessKeyId}`;
}

export const CurrentSession = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedSession =>
    context.switchToHttp().getRequest<{ user: AuthenticatedSession }>().user,
);
