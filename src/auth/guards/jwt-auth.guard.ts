import type { IncomingMessage, ServerResponse } from 'node:http';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { EncryptionError } from '@vault-pii/nest-encryption';
import passport from 'passport';
import { DomainError } from '../../common/problem/domain-error';
import type { AuthenticatedSession } from '../../common/auth/authenticated-session';
import { InvalidTokenError } from '../auth.errors';
import { IS_PUBLIC_ROUTE } from '../../common/auth/public.decorator';
import { markBearerProtected } from '../../common/auth/bearer-challenge';
import { bearerTokenFrom, JwtStrategy } from './jwt.strategy';
import { looksLikeAccessKey } from '@vault-pii/nest-encryption/crypto';
import { AccessKeyAuthenticator } from '../access-keys/access-key-authenticator';
import {
  ACCESS_KEY_SCOPE,
  type AccessKeyScope,
} from '../../common/auth/access-key-scopes';

/**
 * Global guard: deny by default; `@Public()` routes pass without a token. A `vpk_` bearer token is
 * an access key (`AccessKeyAuthenticator`, checked against the route's scope); any other is an
 * access token.
 *
 * It authenticates with this app's own `JwtStrategy` instance, not with a strategy looked up by
 * name: `@nestjs/passport`'s `AuthGuard('jwt')` asks passport's process-wide registry, where the
 * last app constructed in the process wins, so with two apps in one process (the e2e suites) the
 * first app's requests were checked by the second's JWT key and vault, and answered 503 once that
 * app had closed its vault.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  /** Registers no strategy: each request is handed the strategy itself. */
  private readonly authenticator = new passport.Authenticator();

  constructor(
    private readonly reflector: Reflector,
    private readonly strategy: JwtStrategy,
    private readonly accessKeys: AccessKeyAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const isPublic = this.reflector.getAllAndOverride<boolean>(
      IS_PUBLIC_ROUTE,
      targets,
    );
    if (isPublic) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<
      IncomingMessage & { user?: AuthenticatedSession }
    >();
    const response = http.getResponse<ServerResponse>();
    // Its 401s then carry `WWW-Authenticate: Bearer …` (the problem filter adds it).
    markBearerProtected(request);
    const token = bearerTokenFrom(request);
    if (token !== null && looksLikeAccessKey(token)) {
      // docs/access-keys.md: never read as a JWT; the route's scope decides.
      request.user = await this.accessKeys.authenticate(
        token,
        request,
        response,
        this.reflector.getAllAndOverride<AccessKeyScope | undefined>(
          ACCESS_KEY_SCOPE,
          targets,
        ),
      );
      return true;
    }
    request.user = await this.authenticate(request, response);
    return true;
  }

  private async authenticate(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<AuthenticatedSession> {
    const { error, user } = await new Promise<PassportOutcome>((resolve) => {
      // A fresh object per request, as passport does for a registered strategy: it attaches
      // this request's success/fail callbacks to it, which must not land on the shared instance.
      const middleware = this.authenticator.authenticate(
        Object.create(this.strategy) as JwtStrategy,
        { session: false },
        (failure: unknown, session?: AuthenticatedSession | false) =>
          resolve({ error: failure, user: session }),
      ) as PassportMiddleware;
      middleware(request, response, (failure) => resolve({ error: failure }));
    });
    return authenticatedOrThrow(error, user);
  }
}

interface PassportOutcome {
  error: unknown;
  user?: AuthenticatedSession | false;
}

type PassportMiddleware = (
  request: IncomingMessage,
  response: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** passport's outcome as ours: our own errors (session locked, vault down) pass through; every other failure is one 401. */
export function authenticatedOrThrow<T>(
  error: unknown,
  user: T | false | null | undefined,
): T {
  if (error instanceof DomainError || error instanceof EncryptionError)
    throw error;
  if (error || !user) throw new InvalidTokenError();
  return user;
}
