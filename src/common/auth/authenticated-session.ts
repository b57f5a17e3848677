import { createParamDecorator, ExecutionContext } from '@nestjs/common';

/** Who is calling: set by the JWT strategy once the token verified and the vault unlocked. */
export interface AuthenticatedSession {
  userId: string;
  /** Hex SHA-256 of the sid: the session's key in the vault and the database. */
  sessionKeyId: string;
  sid: Buffer;
  clientShare: Buffer;
}

export const CurrentSession = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedSession =>
    context.switchToHttp().getRequest<{ user: AuthenticatedSession }>().user,
);
