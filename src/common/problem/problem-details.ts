import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { ERROR_CATALOGUE, ErrorCode, problemTypeFor } from './error-codes';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

@ApiSchema({ name: 'FieldError' })
export class FieldErrorDto {
  @ApiProperty({ example: 'email' })
  field: string;

  @ApiProperty({ example: '#/email' })
  pointer: string;

  @ApiProperty({ type: [String], example: ['email must be an email'] })
  messages: string[];
}

/** RFC 9457 problem details, as every error response of this API carries them. */
export class ProblemDetails {
  @ApiProperty({
    example: '/problems/validation-failed',
    description: 'URI reference naming the problem type',
  })
  type: string;

  @ApiProperty({ example: 'The request is not valid' })
  title: string;

  @ApiProperty({ type: 'integer', example: 400 })
  status: number;

  @ApiProperty({ example: 'One or more fields are invalid; see errors.' })
  detail: string;

  @ApiProperty({
    example: 'validation_failed',
    description: 'Machine-readable error code',
  })
  code: string;

  @ApiProperty({
    example: '/v1/auth/register',
    description: 'Path of the request (no query string)',
  })
  instance: string;

  @ApiProperty({
    example: '3f1c9a52-5c1d-4a8e-9d0b-6f6f2f0f4b11',
    description: 'Also sent as X-Request-Id',
  })
  requestId: string;

  @ApiPropertyOptional({
    example: 'LOGIN_FAILURE_LIMIT',
    description:
      'On 429 `too_many_requests` and 409 `limit_reached`: the setting whose limit said no (docs/http-api.md#rate-limits)',
  })
  limit?: string;

  @ApiPropertyOptional({
    type: 'integer',
    example: 10,
    description: "With `limit`, when the limit is a count: the setting's value",
  })
  max?: number;

  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'Per-field validation errors',
  })
  errors?: FieldErrorDto[];
}

/**
 * The problem body of `code` (its type and title from `ERROR_CATALOGUE`): what the exception
 * filter sends, and what the HTTP server writes itself for a request it could not parse.
 */
export function problemDetails(
  code: ErrorCode,
  status: number,
  detail: string,
  instance: string,
  requestId: string,
): ProblemDetails {
  return {
    type: problemTypeFor(code),
    title: ERROR_CATALOGUE[code].title,
    status,
    detail,
    code,
    instance,
    requestId,
  };
}
