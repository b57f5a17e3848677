import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
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
 * Documents the error responses of a route as RFC 9457 problem+json, one entry per status,
 * listing the codes it may carry.
 */
export function ApiProblemResponses(
  ...codes: ErrorCode[]
): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_CATALOGUE[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, statusCodes]) =>
      ApiResponse({
        status,
        description: statusCodes
          .map((code) => `\`${code}\`: ${ERROR_CATALOGUE[code].title}`)
          .join('; '),
        content: {
          [PROBLEM_CONTENT_TYPE]: {
            schema: { $ref: '#/components/schemas/ProblemDetails' },
            example: {
              type: `/problems/${statusCodes[0].replace(/_/g, '-')}`,
              title: ERROR_CATALOGUE[statusCodes[0]].title,
              status,
              detail: ERROR_CATALOGUE[statusCodes[0]].title + '.',
              code: statusCodes[0],
              instance: '/v1/…',
              requestId: '3f1c9a52-5c1d-4a8e-9d0b-6f6f2f0f4b11',
            },
          },
        },
      }),
    ),
  );
}
