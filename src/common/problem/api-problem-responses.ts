import { ApiResponse, DECORATORS, type HeaderObject } from '@nestjs/swagger';
import { ERROR_CATALOGUE, ErrorCode } from './error-codes';
import { PROBLEM_CONTENT_TYPE } from './problem-details';

/** What any route that takes a JSON body can answer before its handler runs. */
export const BODY_ERRORS = [
  'validation_failed',
  'malformed_json',
  'payload_too_large',
  'unsupported_media_type',
] as const;

/**
 * The codes whose problem responses carry `Retry-After` (the exception filter sets it for a
 * `RetryLaterError` and for `database_unavailable`), and when.
 */
const RETRY_AFTER: Partial<
  Record<ErrorCode, { when: string; always: boolean }>
> = {
  too_many_requests: {
    when: '`too_many_requests` (until the limit lets the client in again)',
    always: true,
  },
  service_unavailable: {
    when: '`service_unavailable` when the password-hashing queue is full (not when the failure counter is down)',
    always: false,
  },
  database_unavailable: { when: '`database_unavailable`', always: true },
  storage_unavailable: { when: '`storage_unavailable`', always: true },
};

/** The codes `@ApiProblemResponses` has documented on a handler so far. */
const DOCUMENTED_CODES = Symbol('documentedProblemCodes');

/**
 * Documents the error responses of a route as RFC 9457 problem+json, one entry per status,
 * listing the codes it may carry. Applied more than once (`@Authenticated()` adds its own), the
 * codes join: each status keeps one entry, its codes in the order the decorators apply (bottom
 * up), and its example is the first code's.
 */
export function ApiProblemResponses(...codes: ErrorCode[]): MethodDecorator {
  return (target, key, descriptor) => {
    const handler = descriptor.value as object;
    const earlier = (Reflect.getMetadata(DOCUMENTED_CODES, handler) ??
      []) as ErrorCode[];
    const documented = [...new Set([...earlier, ...codes])];
    Reflect.defineMetadata(DOCUMENTED_CODES, documented, handler);
    forgetResponses(handler, earlier);
    for (const [status, statusCodes] of byStatus(documented))
      problemResponse(status, statusCodes)(target, key, descriptor);
  };
}

/**
 * Drops the entries written for `codes`: @nestjs/swagger would merge a second entry for a status
 * into the first (descriptions joined by a blank line, the last example), not replace it.
 */
function forgetResponses(handler: object, codes: ErrorCode[]): void {
  const responses = Reflect.getMetadata(DECORATORS.API_RESPONSE, handler) as
    Record<string, unknown> | undefined;
  if (!responses || codes.length === 0) return;
  const kept = { ...responses };
  for (const status of byStatus(codes).keys()) delete kept[status];
  Reflect.defineMetadata(DECORATORS.API_RESPONSE, kept, handler);
}

function byStatus(codes: ErrorCode[]): Map<number, ErrorCode[]> {
  const grouped = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CATALOGUE[code].status;
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  return grouped;
}

/** `Retry-After` when one of `codes` may carry it; required when every one of them always does. */
function retryAfterHeader(
  codes: ErrorCode[],
): Record<string, HeaderObject> | undefined {
  const when = codes.flatMap((code) => RETRY_AFTER[code]?.when ?? []);
  if (when.length === 0) return undefined;
  return {
    'Retry-After': {
      description: `Whole seconds (at least 1) to wait before retrying. Sent with ${when.join('; ')}.`,
      required: codes.every((code) => RETRY_AFTER[code]?.always === true),
      schema: { type: 'integer', minimum: 1, example: 30 },
    },
  };
}

function problemResponse(status: number, codes: ErrorCode[]): MethodDecorator {
  const [first] = codes;
  return ApiResponse({
    status,
    description: codes
      .map((code) => `\`${code}\`: ${ERROR_CATALOGUE[code].title}`)
      .join('; '),
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: { $ref: '#/components/schemas/ProblemDetails' },
        example: {
          type: `/problems/${first.replace(/_/g, '-')}`,
          title: ERROR_CATALOGUE[first].title,
          status,
          detail: ERROR_CATALOGUE[first].title + '.',
          code: first,
          instance: '/v1/…',
          requestId: '3f1c9a52-5c1d-4a8e-9d0b-6f6f2f0f4b11',
        },
      },
    },
    headers: retryAfterHeader(codes),
  });
}
