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
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated } from '../common/auth/authenticated.decorator';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../common/auth/authenticated-session';
import { NoStore } from '../common/http/no-store.decorator';
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
  UpdateContactDto,
} from './dto/contact.dto';

/** A malformed id cannot name one of your contacts: 404 like any other unknown id. */
const ContactId = () =>
  new ParseUUIDPipe({ exceptionFactory: () => new NotFoundError('contact') });

@ApiTags('contacts')
@Controller('contacts')
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @Post()
  @Authenticated()
  @Idempotent({ callerSecret: 'session' })
  @NoStore()
  @ApiOperation({ summary: 'Add a contact (every field stored encrypted)' })
  @ApiCreatedResponse({ type: ContactDto })
  @ApiProblemResponses(...BODY_ERRORS, 'limit_reached', 'rotation_in_progress')
  create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateContactDto,
  ): Promise<ContactDto> {
    return this.contacts.create(session.userId, body);
  }

  @Get()
  @Authenticated()
  @NoStore()
  @ApiOperation({
    summary: 'List your contacts, newest first; exact search by email or phone',
  })
  @ApiOkResponse({ type: ContactPageDto })
  @ApiProblemResponses('validation_failed', 'data_integrity_error')
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: ListContactsQueryDto,
  ): Promise<ContactPageDto> {
    return this.contacts.list(session.userId, query);
  }

  @Get(':id')
  @Authenticated()
  @NoStore()
  @ApiOperation({ summary: 'One of your contacts' })
  @ApiOkResponse({ type: ContactDto })
  @ApiProblemResponses('not_found', 'data_integrity_error')
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
  ): Promise<ContactDto> {
    return this.contacts.get(session.userId, id);
  }

  @Patch(':id')
  @Authenticated()
  @NoStore()
  @ApiOperation({ summary: 'Change some fields of a contact' })
  @ApiOkResponse({ type: ContactDto })
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
  @Authenticated()
  @ApiOperation({ summary: 'Delete a contact' })
  @ApiNoContentResponse()
  @ApiProblemResponses('not_found')
  delete(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', ContactId()) id: string,
  ): Promise<void> {
    return this.contacts.delete(session.userId, id);
  }
}
