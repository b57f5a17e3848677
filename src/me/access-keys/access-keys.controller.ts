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
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AuthRateLimited } from '../../auth/rate-limit/auth-rate-limit.guard';
import { Authenticated } from '../../common/auth/authenticated.decorator';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../../common/auth/authenticated-session';
import { NoStore } from '../../common/http/no-store.decorator';
import { locationHeader } from '../../common/openapi/location-header';
import { PageQueryDto } from '../../common/pagination/page-query.dto';
import {
  ApiProblemResponses,
  BODY_ERRORS,
} from '../../common/problem/api-problem-responses';
import { NotFoundError } from '../../common/problem/not-found.error';
import { AccessKeysService } from './access-keys.service';
import {
  AccessKeyDto,
  AccessKeyPageDto,
  CreateAccessKeyDto,
  CreatedAccessKeyDto,
} from './dto/access-key.dto';

const AccessKeyId = () =>
  new ParseUUIDPipe({
    exceptionFactory: () => new NotFoundError('access key'),
  });
const ACCESS_KEY_ID_PARAM = {
  name: 'id',
  format: 'uuid',
  description: 'The access key id',
};

/**
 * docs/access-keys.md: access keys for machines, managed from a password session only (an access
 * key on these routes is 403 `insufficient_scope`: no scope grants them).
 */
@ApiTags('access-keys')
@Controller('me/access-keys')
export class AccessKeysController {
  constructor(private readonly accessKeys: AccessKeysService) {}

  @Post()
  @AuthRateLimited()
  @Authenticated()
  // No @Idempotent: a replay would need the answer, secret included, kept for a day; the secret
  // is kept nowhere. A client unsure whether a create went through lists its keys and revokes
  // the one it never received.
  @NoStore()
  @ApiOperation({
    operationId: 'createAccessKey',
    summary:
      'Create an access key: a secret a machine uses instead of your password, for the scopes you grant',
    description:
      'Confirms your password, then creates a key that unlocks your data keys for the given scopes until `expiresAt` (at most `ACCESS_KEY_MAX_TTL` away), optionally only from `allowedAddresses`. ' +
      'The answer holds the `secret`: store it now, it is shown only once. Send it as `Authorization: Bearer <secret>`. ' +
      'Password changes leave it working; account recovery revokes it; a key rotation reaches it.',
  })
  @ApiCreatedResponse({
    type: CreatedAccessKeyDto,
    description:
      'The key, with its `secret`, shown only once: store it now. Only a hash of it is kept.',
    headers: locationHeader('access key'),
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'limit_reached',
    'conflict',
    'too_many_requests',
    'service_unavailable',
  )
  async create(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: CreateAccessKeyDto,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<CreatedAccessKeyDto> {
    const created = await this.accessKeys.create(session, body, request);
    response.location(`/v1/me/access-keys/${created.id}`);
    return created;
  }

  @Get()
  @Authenticated()
  @NoStore()
  @ApiOperation({
    operationId: 'listAccessKeys',
    summary: 'List your access keys, newest first (never their secrets)',
    description:
      'Your access keys, expired ones included until the hourly purge, a page at a time. Pass `nextCursor` as `cursor` for the next page.',
  })
  @ApiOkResponse({ type: AccessKeyPageDto, description: 'One page of keys' })
  @ApiProblemResponses('validation_failed')
  list(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: PageQueryDto,
  ): Promise<AccessKeyPageDto> {
    return this.accessKeys.list(session.userId, query);
  }

  @Get(':id')
  @Authenticated()
  @NoStore()
  @ApiOperation({
    operationId: 'getAccessKey',
    summary: 'One of your access keys (never its secret)',
    description:
      'The key with this id: its scopes, expiry, addresses and last use.',
  })
  @ApiParam(ACCESS_KEY_ID_PARAM)
  @ApiOkResponse({ type: AccessKeyDto, description: 'The access key' })
  @ApiProblemResponses('not_found')
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', AccessKeyId()) id: string,
  ): Promise<AccessKeyDto> {
    return this.accessKeys.get(session.userId, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated()
  @ApiOperation({
    operationId: 'revokeAccessKey',
    summary: 'Revoke an access key: it stops working at once',
    description:
      'Deletes the key and its wrapped data keys: from its next request on, it authenticates nothing and decrypts nothing.',
  })
  @ApiParam(ACCESS_KEY_ID_PARAM)
  @ApiNoContentResponse({ description: 'The key is revoked' })
  @ApiProblemResponses('not_found')
  revoke(
    @CurrentSession() session: AuthenticatedSession,
    @Param('id', AccessKeyId()) id: string,
    @Req() request: Request,
  ): Promise<void> {
    return this.accessKeys.revoke(session.userId, id, request);
  }
}
