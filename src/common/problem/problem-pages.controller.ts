import {
  Controller,
  Get,
  Header,
  Param,
  VERSION_NEUTRAL,
} from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { Public } from '../auth/public.decorator';
import { ApiProblemResponses } from './api-problem-responses';
import { codeForProblemType } from './error-codes';
import { NotFoundError } from './not-found.error';
import { PROBLEM_PAGE_CSP, renderProblemPage } from './problem-page';

/** How long a browser or proxy may keep a page: they change only with a release. */
export const PROBLEM_PAGE_CACHE_CONTROL = 'public, max-age=3600';

/**
 * The targets of the problem `type` URIs (`/problems/validation-failed`): one short page per code
 * of ERROR_CATALOGUE for the developer who follows the link. Public and unversioned, like the
 * URIs the problem bodies carry (docs/http-api.md#errors).
 */
@ApiTags('problems')
@Public()
@Controller({ path: 'problems', version: VERSION_NEUTRAL })
export class ProblemPagesController {
  @Get(':type')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', PROBLEM_PAGE_CACHE_CONTROL)
  @Header('Content-Security-Policy', PROBLEM_PAGE_CSP)
  @ApiOperation({
    operationId: 'getProblemType',
    summary: 'What a problem type means and what to do about it (HTML)',
    description:
      "The page a problem body's `type` names (`/problems/validation-failed` for `validation_failed`): its title, status, meaning and what the client should do. " +
      "HTML for people following the link; programs branch on the problem's `code` instead.",
  })
  @ApiParam({
    name: 'type',
    description:
      'The last segment of a problem `type`: the `code` with `_` as `-`',
    example: 'validation-failed',
    schema: { type: 'string', pattern: '^[a-z0-9-]+$' },
  })
  @ApiOkResponse({
    description: 'A short HTML page about the problem type',
    content: {
      'text/html': {
        schema: { type: 'string' },
        example: '<!doctype html>…<h1>The request is not valid</h1>…',
      },
    },
    headers: {
      'Cache-Control': {
        description: 'The page may be cached for an hour',
        schema: { type: 'string', example: PROBLEM_PAGE_CACHE_CONTROL },
        required: true,
      },
    },
  })
  @ApiProblemResponses('not_found')
  page(@Param('type') type: string): string {
    const code = codeForProblemType(type);
    if (!code) throw new NotFoundError('problem type');
    return renderProblemPage(code);
  }
}
