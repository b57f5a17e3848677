import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { once } from 'node:events';
import { BEARER_AUTH_NAME } from '../common/openapi/bearer-auth';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../auth/guards/authenticated-session';
import {
  ApiProblemResponses,
  BODY_ERRORS,
} from '../common/problem/api-problem-responses';
import { NotFoundError } from '../common/problem/not-found.error';
import { DocumentsService } from './documents.service';
import { CreateDocumentDto, DocumentDto } from './dto/document.dto';

const DocumentId = () =>
  new ParseUUIDPipe({ exceptionFactory: () => new NotFoundError('document') });
const AUTH_ERRORS = [
  'invalid_token',
  'session_locked',
  'vault_unavailable',
] as const;

async function nextChunk(opened: {
  rest: AsyncIterator<Buffer>;
}): Promise<Buffer | undefined> {
  const next = await opened.rest.next();
  return next.done ? undefined : next.value;
}

@ApiTags('documents')
@ApiBearerAuth(BEARER_AUTH_NAME)
@Controller('documents')
export class DocumentsController {
  constructor(private readonly documents: DocumentsService) {}

  @Post()
  @ApiOperation({
    summary: 'Render a PDF from your data; it is stored encrypted and expires',
  })
  @ApiCreatedResponse({ type: DocumentDto })
  @ApiProblemResponses(...BODY_ERRORS, 'rotation_in_progress', ...AUTH_ERRORS)
  create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateDocumentDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DocumentDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.documents.create(session.userId, body.kind);
  }

  @Get()
  @ApiOperation({ summary: 'Your documents, newest first' })
  @ApiOkResponse({ type: [DocumentDto] })
  @ApiProblemResponses(...AUTH_ERRORS)
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DocumentDto[]> {
    response.setHeader('Cache-Control', 'no-store');
    return this.documents.list(session.userId);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One document’s metadata' })
  @ApiOkResponse({ type: DocumentDto })
  @ApiProblemResponses('not_found', ...AUTH_ERRORS)
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DocumentDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.documents.get(session.userId, id);
  }

  @Get(':id/content')
  @ApiOperation({ summary: 'The PDF, decrypted as it streams' })
  @ApiProduces('application/pdf')
  @ApiOkResponse({
    description: 'The PDF',
    content: {
      'application/pdf': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @ApiProblemResponses('not_found', 'data_integrity_error', ...AUTH_ERRORS)
  async content(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const opened = await this.documents.open(session.userId, id, request);
    response
      .status(200)
      .setHeader('Content-Type', 'application/pdf')
      .setHeader(
        'Content-Disposition',
        `attachment; filename="${opened.document.filename}"`,
      )
      .setHeader('Content-Length', String(opened.document.sizeBytes))
      .setHeader('Cache-Control', 'no-store');
    try {
      for (
        let chunk = opened.firstChunk;
        chunk !== undefined;
        chunk = await nextChunk(opened)
      ) {
        if (!response.write(chunk)) await once(response, 'drain');
      }
      response.end();
    } catch (error) {
      // Headers are gone: the only honest signal left is a broken connection (never a clean end).
      opened.abort();
      response.destroy();
      await this.documents.integrityFailure(id, error, request);
    }
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a document and its file' })
  @ApiNoContentResponse()
  @ApiProblemResponses('not_found', ...AUTH_ERRORS)
  delete(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
  ): Promise<void> {
    return this.documents.delete(session.userId, id);
  }
}
