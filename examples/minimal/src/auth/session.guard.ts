import {
  CanActivate,
  ExecutionContext,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { KeyContext, SessionKeyVault } from '@vault-pii/nest-encryption';
import type { Request } from 'express';
import { IS_PUBLIC_ROUTE } from './public.decorator';
import { parseSessionToken } from './session-token';

/** What an authenticated request carries. */
export interface AuthenticatedRequest extends Request {
  userId: string;
}

/**
 * Global guard, deny by default: opens the bearer token's vault entry and attaches its keyring
 * to the request's key context (opened by `KeyContextMiddleware`, which zeroes it when the
 * response ends), so the `@EncryptedColumn`s of this request seal and open under it.
 * A missing or malformed token is 401; a session the vault cannot open is `SessionLockedError`
 * (401 through `EncryptionErrorFilter`).
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly vault: SessionKeyVault,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(
      IS_PUBLIC_ROUTE,
      [context.getHandler(), context.getClass()],
    );
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const [scheme, token] = (request.headers.authorization ?? '').split(' ');
    const session =
      scheme === 'Bearer' && token ? parseSessionToken(token) : undefined;
    if (!session) throw new UnauthorizedException('a bearer token is required');
    KeyContext.attach(await this.vault.unlock(session));
    request.userId = session.userId;
    return true;
  }
}
