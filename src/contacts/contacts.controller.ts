import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
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
import { ContactsService } from './contacts.service';
import {
  ContactDto,
  ContactPageDto,
  CreateContactDto,
  ListContactsQueryDto,
  UpdateContactDto,
} from './dto/contact.dto';

/** A malformed id cannot name one of your contacts: 404 like any other unknown id. */
const ContactId = () =>
  new ParseUUIDPipe({ exceptionFactory: () => new NotFoundError('contact') });
const AUTH_ERRORS = [
  'invalid_token',
  'session_locked',
  'vault_unavailable',
] as const;

@ApiTags('contacts')
@ApiBearerAuth(BEARER_AUTH_NAME)
@Controller('contacts')
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @Post()
  @ApiOperation({ summary: 'Add a contact (every field stored encrypted)' })
  @ApiCreatedResponse({ type: ContactDto })
  @ApiProblemResponses(...BODY_ERRORS, 'rotation_in_progress', ...AUTH_ERRORS)
  create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateContactDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ContactDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.contacts.create(session.userId, body);
  }

  @Get()
  @ApiOperation({
    summary: 'List your contacts, newest first; exact search by email or phone',
  })
  @ApiOkResponse({ type: ContactPageDto })
  @ApiProblemResponses(
    'validation_failed',
    ...AUTH_ERRORS,
    'data_integrity_error',
  )
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: ListContactsQueryDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ContactPageDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.contacts.list(session.userId, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One of your contacts' })
  @ApiOkResponse({ type: ContactDto })
  @ApiProblemResponses('not_found', ...AUTH_ERRORS, 'data_integrity_error')
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ContactDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.contacts.get(session.userId, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change some fields of a contact' })
  @ApiOkResponse({ type: ContactDto })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'not_found',
    'rotation_in_progress',
    ...AUTH_ERRORS,
  )
  update(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
    @Body() body: UpdateContactDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ContactDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.contacts.update(session.userId, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a contact' })
  @ApiNoContentResponse()
  @ApiProblemResponses('not_found', ...AUTH_ERRORS)
  delete(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
  ): Promise<void> {
    return this.contacts.delete(session.userId, id);
  }
}
