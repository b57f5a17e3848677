import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { once } from 'node:events';
import { Authenticated } from '../common/auth/authenticated.decorator';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../common/auth/authenticated-session';
import { NoStore } from '../common/http/no-store.decorator';
import { PageQueryDto } from '../common/pagination/page-query.dto';
import {
  ApiProblemResponses,
  BODY_ERRORS,
} from '../common/problem/api-problem-responses';
import { NotFoundError } from '../common/problem/not-found.error';
import { DocumentsService } from './documents.service';
import {
  CreateDocumentDto,
  DocumentDto,
  DocumentPageDto,
} from './dto/document.dto';
import { Idempotent } from '../idempotency/idempotent.decorator';

const DocumentId = () =>
  new ParseUUIDPipe({ exceptionFactory: () => new NotFoundError('document') });

async function nextChunk(opened: {
  rest: AsyncIterator<Buffer>;
}): Promise<Buffer | undefined> {
  const next = await opened.rest.next();
  return next.done ? undefined : next.value;
}

@ApiTags('documents')
@Controller('documents')
export class DocumentsController {
  constructor(private readonly documents: DocumentsService) {}

  @Post()
  @Authenticated()
  @Idempotent({ callerSecret: 'session' })
  @NoStore()
  @ApiOperation({
    summary: 'Render a PDF from your data; it is stored encrypted and expires',
  })
  @ApiCreatedResponse({ type: DocumentDto })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'rotation_in_progress',
    'limit_reached',
    'too_many_requests',
    'service_unavailable',
    'storage_unavailable',
  )
  create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateDocumentDto,
  ): Promise<DocumentDto> {
    return this.documents.create(session.userId, body.kind);
  }

  @Get()
  @Authenticated()
  @NoStore()
  @ApiOperation({ summary: 'Your documents, newest first, a page at a time' })
  @ApiOkResponse({ type: DocumentPageDto })
  @ApiProblemResponses('validation_failed')
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: PageQueryDto,
  ): Promise<DocumentPageDto> {
    return this.documents.list(session.userId, query);
  }

  @Get(':id')
  @Authenticated()
  @NoStore()
  @ApiOperation({ summary: 'One document’s metadata' })
  @ApiOkResponse({ type: DocumentDto })
  @ApiProblemResponses('not_found')
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
  ): Promise<DocumentDto> {
    return this.documents.get(session.userId, id);
  }

  @Get(':id/content')
  @Authenticated()
  @NoStore()
  @ApiOperation({ summary: 'The PDF, decrypted as it streams' })
  @ApiProduces('application/pdf')
  @ApiOkResponse({
    description: 'The PDF',
    content: {
      'application/pdf': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @ApiProblemResponses(
    'not_found',
    'data_integrity_error',
    'document_file_unavailable',
  )
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
      .setHeader('Content-Length', String(opened.document.sizeBytes));
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
  @Authenticated()
  @ApiOperation({ summary: 'Delete a document and its file' })
  @ApiNoContentResponse()
  @ApiProblemResponses('not_found')
  delete(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
  ): Promise<void> {
    return this.documents.delete(session.userId, id);
  }
}
