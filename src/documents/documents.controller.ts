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
  ApiParam,
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
import { locationHeader } from '../common/openapi/location-header';
import { PageQueryDto } from '../common/pagination/page-query.dto';
import { ApiRateLimitPolicies } from '../common/openapi/rate-limit-headers';
import { DOCUMENT_CREATION_LIMIT_POLICY } from './document-creation-limit';
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
const DOCUMENT_ID_PARAM = {
  name: 'id',
  format: 'uuid',
  description: 'The document id',
} as const;

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
  @Authenticated({ accessKeyScope: 'documents:write' })
  @ApiRateLimitPolicies(DOCUMENT_CREATION_LIMIT_POLICY)
  @Idempotent({ callerSecret: 'session' })
  @NoStore()
  @ApiOperation({
    operationId: 'createDocument',
    summary: 'Render a PDF from your data; it is stored encrypted and expires',
    description:
      'Renders a PDF of the given `kind` from your decrypted data, stores it encrypted under your data key, and answers its metadata; download it with `downloadDocument`. It is deleted when it expires.',
  })
  @ApiCreatedResponse({
    type: DocumentDto,
    description: 'The document is stored; its metadata',
    headers: locationHeader('document'),
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'rotation_in_progress',
    'limit_reached',
    'too_many_requests',
    'service_unavailable',
    'storage_unavailable',
  )
  async create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateDocumentDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DocumentDto> {
    const document = await this.documents.create(session.userId, body.kind);
    response.location(`/v1/documents/${document.id}`);
    return document;
  }

  @Get()
  @Authenticated({ accessKeyScope: 'documents:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'listDocuments',
    summary: 'Your documents, newest first, a page at a time',
    description:
      "Your documents' metadata (not their content), newest first. Pass `nextCursor` as `cursor` for the next page.",
  })
  @ApiOkResponse({
    type: DocumentPageDto,
    description: 'One page of documents',
  })
  @ApiProblemResponses('validation_failed')
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: PageQueryDto,
  ): Promise<DocumentPageDto> {
    return this.documents.list(session.userId, query);
  }

  @Get(':id')
  @Authenticated({ accessKeyScope: 'documents:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'getDocument',
    summary: 'One document’s metadata',
    description:
      "The metadata of the document with this id; 404 for an unknown, expired or other user's id.",
  })
  @ApiParam(DOCUMENT_ID_PARAM)
  @ApiOkResponse({ type: DocumentDto, description: 'The document’s metadata' })
  @ApiProblemResponses('not_found')
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
  ): Promise<DocumentDto> {
    return this.documents.get(session.userId, id);
  }

  @Get(':id/content')
  @Authenticated({ accessKeyScope: 'documents:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'downloadDocument',
    summary: 'The PDF, decrypted as it streams',
    description:
      'The PDF as an attachment, decrypted chunk by chunk as it is sent. Each chunk is released only once it has authenticated: a file found tampered with after the download has started cuts the connection instead of ending cleanly, so treat an incomplete download as a failure.',
  })
  @ApiParam(DOCUMENT_ID_PARAM)
  @ApiProduces('application/pdf')
  @ApiOkResponse({
    description: 'The PDF',
    content: {
      'application/pdf': { schema: { type: 'string', format: 'binary' } },
    },
    headers: {
      'Content-Disposition': {
        description: "`attachment`, with the document's `filename`",
        required: true,
        schema: {
          type: 'string',
          example: 'attachment; filename="profile-summary-2026-11-27.pdf"',
        },
      },
      'Content-Length': {
        description: "The PDF's size in bytes (`sizeBytes`)",
        required: true,
        schema: { type: 'integer', example: 18432 },
      },
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
  @Authenticated({ accessKeyScope: 'documents:write' })
  @ApiOperation({
    operationId: 'deleteDocument',
    summary: 'Delete a document and its file',
    description: 'Deletes the document with this id and its encrypted file.',
  })
  @ApiParam(DOCUMENT_ID_PARAM)
  @ApiNoContentResponse({ description: 'The document is deleted' })
  @ApiProblemResponses('not_found')
  delete(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', DocumentId()) id: string,
  ): Promise<void> {
    return this.documents.delete(session.userId, id);
  }
}
