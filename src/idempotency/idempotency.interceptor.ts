import {
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { catchError, from, mergeMap, Observable, of, throwError } from 'rxjs';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import type { AuthenticatedSession } from '../common/auth/authenticated-session';
import {
  IDEMPOTENCY_REPLAYED_HEADER,
  parseIdempotencyKey,
} from './idempotency-key-header';
import { IdempotencyLease, IdempotencyService } from './idempotency.service';
import { IDEMPOTENT_OPTIONS, IdempotentOptions } from './idempotent-options';

/** Response headers a replay repeats; anything else is the response's own (request id, …). */
const REPLAYED_HEADERS = ['cache-control', 'location'] as const;
/** A body field holding the caller's secret is read only when plausible; validation does the rest. */
const MAX_BODY_SECRET_CHARACTERS = 1024;

interface Caller {
  scope: string;
  secret: Buffer;
}

/**
 * Runs the `@Idempotent()` routes (docs/http-api.md#idempotency). An interceptor: guards (the
 * access token, rate limits) have run, so the caller is known; the body has been parsed but not
 * yet validated, so the fingerprint covers the body as sent, and a validation failure (thrown
 * inside `next.handle()`) releases the record like any other failure.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly idempotency: IdempotencyService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.reflector.get<IdempotentOptions | undefined>(
      IDEMPOTENT_OPTIONS,
      context.getHandler(),
    );
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const key = parseIdempotencyKey(request.headersDistinct['idempotency-key']);
    if (!options || key === undefined) return next.handle();
    const caller = callerOf(request, options);
    if (!caller) return next.handle(); // no secret in the body: validation answers 400
    const path = pathOf(request);
    const begun = this.idempotency
      .begin({
        route: `${request.method} ${routeTemplateOf(request) ?? path}`,
        scope: caller.scope,
        key,
        callerSecret: caller.secret,
        method: request.method,
        path,
        body: request.body as unknown,
      })
      .finally(() => zeroBuffer(caller.secret));
    return from(begun).pipe(
      mergeMap((decision) => {
        if (decision.kind === 'run')
          return this.runOnce(decision.lease, response, next);
        response.status(decision.status);
        for (const [name, value] of Object.entries(decision.outcome.headers))
          response.setHeader(name, value);
        response.setHeader(IDEMPOTENCY_REPLAYED_HEADER, 'true');
        return of(decision.outcome.body);
      }),
    );
  }

  private runOnce(
    lease: IdempotencyLease,
    response: Response,
    next: CallHandler,
  ): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) =>
        from(this.idempotency.release(lease)).pipe(
          mergeMap(() => throwError(() => error)),
        ),
      ),
      mergeMap(async (body: unknown) => {
        // Nest sets the route's status and headers before interceptors run.
        const status = response.statusCode;
        if (status < 200 || status > 299) {
          await this.idempotency.release(lease);
          return body;
        }
        const headers: Record<string, string> = {};
        for (const name of REPLAYED_HEADERS) {
          const value = response.getHeader(name);
          if (typeof value === 'string') headers[name] = value;
        }
        await this.idempotency.complete(lease, status, { headers, body });
        return body;
      }),
    );
  }
}

function callerOf(
  request: Request,
  options: IdempotentOptions,
): Caller | undefined {
  if (options.callerSecret === 'session') {
    const session = (request as Request & { user?: AuthenticatedSession }).user;
    // The route is not behind the JWT guard: a programming error, never a silent pass.
    if (!session)
      throw new Error(
        '@Idempotent({ callerSecret: "session" }) needs a session',
      );
    return {
      scope: `session:${session.sessionKeyId}`,
      secret: Buffer.from(session.clientShare),
    };
  }
  const value = (request.body as Record<string, unknown> | undefined)?.[
    options.field
  ];
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_BODY_SECRET_CHARACTERS
  )
    return undefined;
  const secret = Buffer.from(value, 'utf8');
  return {
    scope: `${options.field}:${createHash('sha256').update(secret).digest('hex')}`,
    secret,
  };
}

/** Express's matched route (`/v1/contacts`), so a key is scoped to the route, not to an id. */
function routeTemplateOf(request: Request): string | undefined {
  const { route } = request as unknown as { route?: { path?: unknown } };
  return typeof route?.path === 'string' ? route.path : undefined;
}

function pathOf(request: Request): string {
  const url = request.originalUrl ?? request.url;
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}
