import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Param,
  ParseUUIDPipe,
  Post,
  Req,
} from '@nestjs/common';
import type { AuthenticatedRequest } from '../auth/session.guard';
import { NotesService } from './notes.service';

const MAX_TITLE = 200;
const MAX_BODY = 10_000;

function noteFields(body: unknown): { title: string; body: string } {
  const fields = (body ?? {}) as Record<string, unknown>;
  if (
    typeof fields.title !== 'string' ||
    fields.title.length === 0 ||
    fields.title.length > MAX_TITLE
  )
    throw new BadRequestException(`title: 1 to ${MAX_TITLE} characters`);
  if (typeof fields.body !== 'string' || fields.body.length > MAX_BODY)
    throw new BadRequestException(`body: at most ${MAX_BODY} characters`);
  return { title: fields.title, body: fields.body };
}

@Controller('notes')
export class NotesController {
  constructor(private readonly notes: NotesService) {}

  @Post()
  create(@Req() request: AuthenticatedRequest, @Body() body: unknown) {
    const { title, body: text } = noteFields(body);
    return this.notes.create(request.userId, title, text);
  }

  @Get()
  list(@Req() request: AuthenticatedRequest) {
    return this.notes.list(request.userId);
  }

  @Get(':id')
  get(
    @Req() request: AuthenticatedRequest,
    @Param('id', new ParseUUIDPipe()) id: string,
  ) {
    return this.notes.get(request.userId, id);
  }
}
