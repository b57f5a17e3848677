import {
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
} from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import {
  catchError,
  finalize,
  from,
  mergeMap,
  Observable,
  of,
  throwError,
} from 'rxjs';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import {
  accessKeySessionKeyId,
  type AuthenticatedSession,
} from '../common/auth/authenticated-session';
import { normalizeEmailAddress } from '../crypto/email-address';
import {
  IDEMPOTENCY_REPLAYED_HEADER,
  parseIdempotencyKey,
} from './idempotency-key-header';
import {
  IdempotencyLease,
  IdempotencyService,
  PasswordIdempotencyLease,
} from './idempotency.service';
import type { StoredOutcome } from './idempotency-secrets';
import { IDEMPOTENT_OPTIONS, IdempotentOptions } from './idempotent-options';
import {
  attachPasswordIdempotencySecretHolder,
  PASSWORD_REPLAY_RESOLVER,
  PasswordIdempotencySecretHolder,
  PasswordIdempotentFlow,
  PasswordReplayResolver,
} from './password-idempotency';

/** Response headers a replay repeats; anything else is the response's own (request id, …). */
const REPLAYED_HEADERS = ['cache-control', 'location'] as const;
/** A body field holding the caller's secret is read only when plausible; validation does the rest. */
const MAX_BODY_SECRET_CHARACTERS = 1024;

interface Caller {
  scope: string;
  secret: Buffer;
}

/** A register's or login's body, as far as its record needs it (before validation). */
interface PasswordCaller {
  email: string;
  password: string;
}

/**
 * Runs the `@Idempotent()` routes (docs/http-api.md#idempotency). An interceptor: guards (the
 * access token, rate limits) have run, so the caller is known; the body has been parsed but not
 * yet validated, so the fingerprint covers the body as sent, and a validation failure (thrown
 * inside `next.handle()`) releases the record like any other failure.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private passwordReplayResolver: PasswordReplayResolver | undefined;

  constructor(
    private readonly reflector: Reflector,
    private readonly idempotency: IdempotencyService,
    private readonly moduleRef: ModuleRef,
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
    if (options.callerSecret === 'password')
      return this.interceptPassword(options.flow, key, request, response, next);
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
        return replay(response, decision.status, decision.outcome);
      }),
    );
  }

  /**
   * Register and login (docs/security.md#idempotency-records-for-register-and-login): claimed
   * without a fingerprint; the flow hands its `password/idempotency` secret to the request's
   * holder, which keys the record at completion; a replay is checked by the resolver from `auth/`.
   */
  private interceptPassword(
    flow: PasswordIdempotentFlow,
    key: string,
    request: Request,
    response: Response,
    next: CallHandler,
  ): Observable<unknown> {
    const caller = passwordCallerOf(request);
    if (!caller) return next.handle(); // validation answers 400
    const path = pathOf(request);
    const resolver = this.resolver();
    const begun = this.idempotency.beginWithPassword({
      route: `${request.method} ${routeTemplateOf(request) ?? path}`,
      scope: `email:${caller.email}`,
      key,
      method: request.method,
      path,
      body: request.body as unknown,
      resolveReplay: (open) =>
        resolver.resolve({ flow, ...caller, request, open }),
    });
    return from(begun).pipe(
      mergeMap((decision) => {
        if (decision.kind === 'replay')
          return replay(response, decision.status, decision.outcome);
        const holder = attachPasswordIdempotencySecretHolder(request);
        return this.runOnceWithPassword(
          decision.lease,
          holder,
          response,
          next,
        ).pipe(finalize(() => holder.zero()));
      }),
    );
  }

  /** Stores the outcome under the secret the flow handed over; without one, forgets the key. */
  private runOnceWithPassword(
    lease: PasswordIdempotencyLease,
    holder: PasswordIdempotencySecretHolder,
    response: Response,
    next: CallHandler,
  ): Observable<unknown> {
    return this.runLeased(
      response,
      next,
      () => this.idempotency.release(lease),
      async (status, outcome) => {
        const secret = holder.take();
        // The flow named no secret its account will reproduce: nothing could open the answer.
        if (!secret) return this.idempotency.release(lease);
        try {
          await this.idempotency.completeWithSecret(
            lease,
            secret,
            status,
            outcome,
          );
        } finally {
          zeroBuffer(secret);
        }
      },
    );
  }

  /** `auth/`'s resolver, looked up once: the interceptor is built in this module, before it. */
  private resolver(): PasswordReplayResolver {
    this.passwordReplayResolver ??= this.moduleRef.get<PasswordReplayResolver>(
      PASSWORD_REPLAY_RESOLVER,
      { strict: false },
    );
    return this.passwordReplayResolver;
  }

  private runOnce(
    lease: IdempotencyLease,
    response: Response,
    next: CallHandler,
  ): Observable<unknown> {
    return this.runLeased(
      response,
      next,
      () => this.idempotency.release(lease),
      (status, outcome) => this.idempotency.complete(lease, status, outcome),
    );
  }

  /** Runs the handler holding the key: a 2xx outcome goes to `store`; anything else releases. */
  private runLeased(
    response: Response,
    next: CallHandler,
    release: () => Promise<void>,
    store: (status: number, outcome: StoredOutcome) => Promise<void>,
  ): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) =>
        from(release()).pipe(mergeMap(() => throwError(() => error))),
      ),
      mergeMap(async (body: unknown) => {
        // Nest sets the route's status and headers before interceptors run.
        const status = response.statusCode;
        if (status < 200 || status > 299) await release();
        else
          await store(status, { headers: replayedHeadersOf(response), body });
        return body;
      }),
    );
  }
}

function replayedHeadersOf(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = response.getHeader(name);
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

/** Sends a stored outcome again, marked as a replay. */
function replay(
  response: Response,
  status: number,
  outcome: StoredOutcome,
): Observable<unknown> {
  response.status(status);
  for (const [name, value] of Object.entries(outcome.headers))
    response.setHeader(name, value);
  response.setHeader(IDEMPOTENCY_REPLAYED_HEADER, 'true');
  return of(outcome.body);
}

/**
 * The canonical email (the record's scope) and the password, when the body holds plausible ones;
 * otherwise undefined, and validation answers.
 */
function passwordCallerOf(request: Request): PasswordCaller | undefined {
  const body = request.body as Record<string, unknown> | undefined;
  const email = body?.email;
  const password = body?.password;
  if (
    typeof email !== 'string' ||
    typeof password !== 'string' ||
    password.length === 0 ||
    password.length > MAX_BODY_SECRET_CHARACTERS
  )
    return undefined;
  const normalized = normalizeEmailAddress(email);
  return normalized.ok ? { email: normalized.email, password } : undefined;
}

function callerOf(
  request: Request,
  options: Exclude<IdempotentOptions, { callerSecret: 'password' }>,
): Caller | undefined {
  if (options.callerSecret === 'session') {
    const session = (request as Request & { user?: AuthenticatedSession }).user;
    // The route is not behind the JWT guard: a programming error, never a silent pass.
    if (!session)
      throw new Error(
        '@Idempotent({ callerSecret: "session" }) needs a session',
      );
    return {
      // An access key's caller secret is its idempotency secret, under a scope of its own.
      scope: session.accessKey
        ? accessKeySessionKeyId(session.accessKey.id)
        : `session:${session.sessionKeyId}`,
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
