import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  Logger,
  Optional,
} from '@nestjs/common';
import { EncryptionError } from '@vault-pii/nest-encryption';
import type { Request, Response } from 'express';
import {
  DATABASE_RETRY_AFTER_SECONDS,
  isDatabaseUnreachable,
} from './database-unreachable';
import { DependencyOutages } from './dependency-outages';
import { assignRequestId } from '../http/request-id';
import { DomainError } from './domain-error';
import { IntegrityFailureRecorder } from './integrity-failure-recorder';
import { ERROR_CATALOGUE, ErrorCode, codeForStatus } from './error-codes';
import {
  PROBLEM_CONTENT_TYPE,
  ProblemDetails,
  problemDetails,
} from './problem-details';
import {
  RetryLaterError,
  TooManyRequestsError,
} from './too-many-requests.error';
import { setRateLimitHeaders } from '../http/rate-limit-headers';
import { bearerChallengeFor } from '../auth/bearer-challenge';
import { InsufficientScopeError } from '../auth/access-key.errors';

/**
 * 5xx whose cause is logged where it is found, once per outage (the vault, the rate-limit
 * counters, the documents volume, `DependencyOutages`), so a request refused for it adds no line
 * of its own.
 */
const LOGGED_AT_SOURCE: ReadonlySet<ErrorCode> = new Set([
  'vault_unavailable',
  'service_unavailable',
  'storage_unavailable',
]);

interface Problem {
  code: ErrorCode;
  status: number;
  detail: string;
  extensions?: Record<string, unknown>;
}

/**
 * The one place where errors become HTTP: every exception, ours or the framework's, leaves as
 * RFC 9457 `application/problem+json`. Client errors say what was wrong without echoing input;
 * anything unexpected becomes a generic 500 and is logged without its message (which may hold
 * query parameters or PII), only its type and stack frames.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  constructor(
    @Optional() private readonly integrityFailures?: IntegrityFailureRecorder,
    @Optional() private readonly outages?: DependencyOutages,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const problem = this.toProblem(exception);

    if (problem.code === 'database_unavailable') {
      // One line per outage (and one when it ends), not one per refused request.
      if (this.outages)
        this.outages.reportDown('database', reasonOf(exception));
      else this.logger.error({ reason: reasonOf(exception) }, problem.detail);
    } else if (problem.status >= 500 && problem.code === 'internal_error') {
      this.logger.error(
        { err: describeUnexpectedError(exception) },
        'unhandled error',
      );
    } else if (problem.status >= 500 && !LOGGED_AT_SOURCE.has(problem.code)) {
      // Our own 5xx (integrity failure, keys missing, a store down): its code, the safe fields
      // it carries (e.g. table and column) and what the client is told anyway, never values.
      this.logger.error(
        {
          code: problem.code,
          ...safeFieldsOf(exception),
          ...problem.extensions,
        },
        problem.detail,
      );
      if (problem.code === 'data_integrity_error') {
        const userId =
          (request as Request & { user?: { userId?: string } }).user?.userId ??
          null;
        void this.integrityFailures?.recordIntegrityFailure(userId, request);
      }
    }
    if (response.headersSent) {
      // A stream already started: the status line is gone, so the connection must end abruptly
      // rather than look like a complete response.
      response.destroy();
      return;
    }

    const body: ProblemDetails & Record<string, unknown> = {
      ...problemDetails(
        problem.code,
        problem.status,
        problem.detail,
        pathOf(request),
        // A request refused before the logger's middleware ran (a path Express cannot decode)
        // has no id yet: it gets one here, echoed in `X-Request-Id` like any other.
        typeof request.id === 'string'
          ? request.id
          : assignRequestId(request, response),
      ),
      ...problem.extensions,
    };
    if (exception instanceof RetryLaterError) {
      response.setHeader('Retry-After', String(exception.retryAfterSeconds));
      if (exception instanceof TooManyRequestsError && exception.policy)
        setRateLimitHeaders(response, exception.policy, {
          remaining: 0,
          resetSeconds: exception.retryAfterSeconds,
        });
    } else if (problem.code === 'database_unavailable') {
      response.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    }
    if (problem.status === 401 || problem.code === 'insufficient_scope') {
      const challenge = bearerChallengeFor(
        request,
        problem.code,
        exception instanceof InsufficientScopeError
          ? exception.needed
          : undefined,
      );
      if (challenge) response.setHeader('WWW-Authenticate', challenge);
    }
    // A body too large is left unread: the connection cannot carry another request, so say so
    // (Node then closes it once the answer is out, instead of reading the rest to reuse it).
    if (problem.status === 413) response.setHeader('Connection', 'close');
    response
      .status(problem.status)
      .setHeader('Content-Type', `${PROBLEM_CONTENT_TYPE}; charset=utf-8`)
      .setHeader('Cache-Control', 'no-store')
      .send(JSON.stringify(body));
  }

  private toProblem(exception: unknown): Problem {
    if (exception instanceof DomainError) {
      return {
        code: exception.code,
        status: ERROR_CATALOGUE[exception.code].status,
        detail: exception.detail,
        extensions: exception.extensions,
      };
    }
    if (exception instanceof EncryptionError) {
      return {
        code: exception.code,
        status: ERROR_CATALOGUE[exception.code].status,
        detail: exception.detail,
      };
    }
    if (isDatabaseUnreachable(exception)) {
      return {
        code: 'database_unavailable',
        status: 503,
        detail: 'The database cannot be reached; try again shortly.',
      };
    }
    const bodyParserProblem = fromBodyParserError(exception);
    if (bodyParserProblem) return bodyParserProblem;
    // Express's router: "Failed to decode param '<the raw segment>'" would echo the input.
    if (
      exception instanceof Error &&
      exception.message.startsWith('Failed to decode param')
    ) {
      return {
        code: 'bad_request',
        status: 400,
        detail: 'A path segment is not valid percent-encoded UTF-8.',
      };
    }

    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code = codeForStatus(status);
      if (status === 404 && isRouteNotFound(exception)) {
        return {
          code,
          status,
          // The path is in `instance` already; the detail does not repeat what the client sent.
          detail: 'No route matches this method and path.',
        };
      }
      return {
        code,
        status,
        detail:
          status >= 500 ? ERROR_CATALOGUE[code].title + '.' : exception.message,
      };
    }
    return {
      code: 'internal_error',
      status: 500,
      detail: 'An unexpected error occurred; it has been logged.',
    };
  }
}

/** `body-parser` errors carry a `type`; their `body` member holds the raw request, never sent. */
function fromBodyParserError(exception: unknown): Problem | undefined {
  const type = (exception as { type?: unknown } | null)?.type;
  switch (type) {
    case 'entity.parse.failed':
      return {
        code: 'malformed_json',
        status: 400,
        detail: 'The request body could not be parsed as JSON.',
      };
    case 'entity.too.large': {
      const limit = (exception as { limit?: number }).limit;
      return {
        code: 'payload_too_large',
        status: 413,
        detail: `The request body exceeds the limit of ${limit ?? 'the configured'} bytes.`,
      };
    }
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return {
        code: 'unsupported_media_type',
        status: 415,
        detail: 'The request body encoding or charset is not supported.',
      };
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return {
        code: 'bad_request',
        status: 400,
        detail: 'The request body could not be read.',
      };
    default:
      return undefined;
  }
}

/** Nest's router answers unknown routes with "Cannot GET /path?query": the query may hold PII. */
function isRouteNotFound(exception: HttpException): boolean {
  return /^Cannot [A-Z]+ \//.test(exception.message);
}

function pathOf(request: Request): string {
  const url = request.originalUrl ?? request.url ?? '';
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}

/** An error's code (`ECONNREFUSED`, a SQLSTATE) or type: never its message, which may hold a query. */
function reasonOf(exception: unknown): string {
  const { code, driverError, name } = (exception ?? {}) as {
    code?: unknown;
    driverError?: { code?: unknown };
    name?: unknown;
  };
  const reason = driverError?.code ?? code ?? name;
  return typeof reason === 'string' ? reason : 'unknown';
}

/** Fields a DomainError or EncryptionError may log: short identifiers, never values (no message, no extensions). */
function safeFieldsOf(exception: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name of ['table', 'column', 'reason'] as const) {
    const value = (exception as Record<string, unknown> | null)?.[name];
    if (typeof value === 'string') fields[name] = value;
  }
  return fields;
}

/** Type, error code and stack frames only: the message line may carry values (SQL parameters…). */
export function describeUnexpectedError(
  error: unknown,
): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const frames = (error.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line));
  const code = (error as { code?: unknown }).code;
  return {
    type: error.constructor?.name ?? error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    stack: frames.map((frame) => frame.trim()).join('\n'),
  };
}
