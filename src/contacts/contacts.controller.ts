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
import type { Response } from 'express';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated } from '../common/auth/authenticated.decorator';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../common/auth/authenticated-session';
import { NoStore } from '../common/http/no-store.decorator';
import { locationHeader } from '../common/openapi/location-header';
import {
  ApiProblemResponses,
  BODY_ERRORS,
} from '../common/problem/api-problem-responses';
import { NotFoundError } from '../common/problem/not-found.error';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { ContactsService } from './contacts.service';
import {
  ContactDto,
  ContactPageDto,
  CreateContactDto,
  ListContactsQueryDto,
  SearchContactsDto,
  UpdateContactDto,
} from './dto/contact.dto';

/** A malformed id cannot name one of your contacts: 404 like any other unknown id. */
const ContactId = () =>
  new ParseUUIDPipe({ exceptionFactory: () => new NotFoundError('contact') });
const CONTACT_ID_PARAM = {
  name: 'id',
  format: 'uuid',
  description: 'The contact id',
} as const;

@ApiTags('contacts')
@Controller('contacts')
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @Post()
  @Authenticated({ accessKeyScope: 'contacts:write' })
  @Idempotent({ callerSecret: 'session' })
  @NoStore()
  @ApiOperation({
    operationId: 'createContact',
    summary: 'Add a contact (every field stored encrypted)',
    description:
      'Stores a contact under your data key; email and phone also get blind indexes so `searchContacts` can find them by exact value. Answers the contact as stored.',
  })
  @ApiCreatedResponse({
    type: ContactDto,
    description: 'The contact as stored',
    headers: locationHeader('contact'),
  })
  @ApiProblemResponses(...BODY_ERRORS, 'limit_reached', 'rotation_in_progress')
  async create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateContactDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ContactDto> {
    const contact = await this.contacts.create(session.userId, body);
    response.location(`/v1/contacts/${contact.id}`);
    return contact;
  }

  @Get()
  @Authenticated({ accessKeyScope: 'contacts:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'listContacts',
    summary: 'List your contacts, newest first',
    description:
      'Your contacts, decrypted, newest first, a page at a time. Pass `nextCursor` as `cursor` for the next page. The `email` and `phone` query parameters (exact match) are deprecated: search with `searchContacts`, which takes them in the body, because query strings are written to the logs of proxies and gateways.',
  })
  @ApiOkResponse({ type: ContactPageDto, description: 'One page of contacts' })
  @ApiProblemResponses('validation_failed', 'data_integrity_error')
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: ListContactsQueryDto,
  ): Promise<ContactPageDto> {
    return this.contacts.list(session.userId, query);
  }

  @Post('search')
  @HttpCode(200)
  @Authenticated({ accessKeyScope: 'contacts:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'searchContacts',
    summary: 'Search your contacts by exact email or phone, newest first',
    description:
      'The search terms go in the JSON body, never in the URL (query strings get logged). ' +
      'To continue a search, send the same `email`/`phone` with the `nextCursor` as `cursor`.',
  })
  @ApiOkResponse({
    type: ContactPageDto,
    description: 'One page of the contacts that match exactly',
  })
  @ApiProblemResponses(...BODY_ERRORS, 'data_integrity_error')
  search(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: SearchContactsDto,
  ): Promise<ContactPageDto> {
    return this.contacts.list(session.userId, body);
  }

  @Get(':id')
  @Authenticated({ accessKeyScope: 'contacts:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'getContact',
    summary: 'One of your contacts',
    description:
      'The contact with this id, decrypted; 404 for an unknown id or one that is not yours.',
  })
  @ApiParam(CONTACT_ID_PARAM)
  @ApiOkResponse({ type: ContactDto, description: 'The contact' })
  @ApiProblemResponses('not_found', 'data_integrity_error')
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
  ): Promise<ContactDto> {
    return this.contacts.get(session.userId, id);
  }

  @Patch(':id')
  @Authenticated({ accessKeyScope: 'contacts:write' })
  @NoStore()
  @ApiOperation({
    operationId: 'updateContact',
    summary: 'Change some fields of a contact',
    description:
      'Changes only the fields sent (`null` clears one that may be empty); the others keep their values. Answers the contact as stored.',
  })
  @ApiParam(CONTACT_ID_PARAM)
  @ApiOkResponse({ type: ContactDto, description: 'The contact as stored' })
  @ApiProblemResponses(...BODY_ERRORS, 'not_found', 'rotation_in_progress')
  update(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
    @Body() body: UpdateContactDto,
  ): Promise<ContactDto> {
    return this.contacts.update(session.userId, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated({ accessKeyScope: 'contacts:write' })
  @ApiOperation({
    operationId: 'deleteContact',
    summary: 'Delete a contact',
    description: 'Deletes the contact with this id for good.',
  })
  @ApiParam(CONTACT_ID_PARAM)
  @ApiNoContentResponse({ description: 'The contact is deleted' })
  @ApiProblemResponses('not_found')
  delete(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
  ): Promise<void> {
    return this.contacts.delete(session.userId, id);
  }
}
