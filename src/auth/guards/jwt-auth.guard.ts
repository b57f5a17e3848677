import type { IncomingMessage } from 'node:http';
import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { EncryptionError } from '@vault-pii/nest-encryption';
import { DomainError } from '../../common/problem/domain-error';
import { InvalidTokenError } from '../auth.errors';
import { IS_PUBLIC_ROUTE } from '../../common/auth/public.decorator';
import { markBearerProtected } from '../../common/auth/bearer-challenge';

/** Global guard: deny by default; `@Public()` routes pass without a token. */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext) {
    const isPublic = this.reflector.getAllAndOverride<boolean>(
      IS_PUBLIC_ROUTE,
      [context.getHandler(), context.getClass()],
    );
    if (isPublic) return true;
    // Its 401s then carry `WWW-Authenticate: Bearer …` (the problem filter adds it).
    markBearerProtected(context.switchToHttp().getRequest<IncomingMessage>());
    return super.canActivate(context);
  }

  override handleRequest<T>(error: unknown, user: T): T {
    return authenticatedOrThrow(error, user);
  }
}

/** passport's outcome as ours: our own errors (session locked, vault down) pass through; every other failure is one 401. */
export function authenticatedOrThrow<T>(error: unknown, user: T): T {
  if (error instanceof DomainError || error instanceof EncryptionError)
    throw error;
  if (error || !user) throw new InvalidTokenError();
  return user;
}
