import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  NotFoundException,
  Req,
} from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiSchema,
  ApiTags,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { PasswordConfirmationDto } from '../auth/dto/auth.dto';
import { AuthRateLimited } from '../auth/rate-limit/auth-rate-limit.guard';
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
import { KeyRotationService } from '../key-rotation/key-rotation.service';
import { UsersService } from '../users/users.service';
import { AccountDeletionService } from './account-deletion.service';

/**
 * A key rotation still re-encrypting (docs/crypto.md#key-rotation): the old version's key exists
 * until it ends.
 */
@ApiSchema({ name: 'KeyRotationStatus' })
export class KeyRotationStatusDto {
  @ApiProperty({
    type: 'integer',
    example: 1,
    description:
      'The version being retired; its key is destroyed when the rotation ends',
  })
  fromVersion: number;

  @ApiProperty({
    type: 'integer',
    example: 2,
    description: 'The new version (already encrypting new data)',
  })
  toVersion: number;

  @ApiProperty({ example: '2026-11-20T09:14:03.512Z' })
  startedAt: Date;

  @ApiProperty({
    type: 'integer',
    example: 1500,
    description: 'Rows re-encrypted so far',
  })
  rowsReencrypted: number;

  @ApiProperty({
    type: 'integer',
    example: 1,
    description: 'Document files re-encrypted so far',
  })
  filesReencrypted: number;
}

@ApiSchema({ name: 'Account' })
export class MeDto {
  @ApiProperty({
    format: 'uuid',
    example: '0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10',
  })
  userId: string;

  @ApiProperty({ format: 'email', example: 'ada@example.org' })
  email: string;

  @ApiProperty({ example: '2026-11-20T09:14:03.512Z' })
  createdAt: Date;

  @ApiProperty({
    type: 'integer',
    example: 1,
    description: 'Version of the data key that encrypts new data',
  })
  keyVersion: number;

  @ApiProperty({
    type: KeyRotationStatusDto,
    nullable: true,
    description:
      'The key rotation still running (old data being re-encrypted), or null',
  })
  keyRotation: KeyRotationStatusDto | null;
}

@ApiTags('me')
@Controller('me')
export class MeController {
  constructor(
    private readonly users: UsersService,
    private readonly accounts: AccountDeletionService,
    private readonly rotations: KeyRotationService,
  ) {}

  @Get()
  @Authenticated()
  @NoStore()
  @ApiOperation({
    operationId: 'getMe',
    summary: 'Your account',
    description:
      'Your user id, email, creation time and data key version, and the key rotation still running, if any.',
  })
  @ApiOkResponse({ type: MeDto, description: 'Your account' })
  async me(@CurrentSession() session: AuthenticatedSession): Promise<MeDto> {
    const [user, rotation] = await Promise.all([
      this.users.findByIdWithEmail(session.userId),
      this.rotations.pendingOf(session.userId),
    ]);
    if (!user) throw new NotFoundException();
    const keyRotation = rotation && {
      fromVersion: rotation.fromVersion,
      toVersion: rotation.toVersion,
      startedAt: rotation.startedAt,
      rowsReencrypted: rotation.rowsReencrypted,
      filesReencrypted: rotation.filesReencrypted,
    };
    return {
      userId: user.id,
      email: user.email,
      createdAt: user.createdAt,
      keyVersion: user.activeKeyVersion,
      keyRotation,
    };
  }

  @Delete()
  @HttpCode(204)
  @AuthRateLimited()
  @Authenticated()
  @ApiOperation({
    operationId: 'deleteAccount',
    summary:
      'Delete your account: keys, data and sessions are destroyed (crypto-shredding)',
    description:
      'Confirms the password, then ends every session and deletes the wrapped data keys and every row of yours (profile, contacts, documents and their files): crypto-shredding. Only audit events remain, under an id that links to nothing. Cannot be undone.',
  })
  @ApiNoContentResponse({ description: 'The account and its data are gone' })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'too_many_requests',
    'service_unavailable',
  )
  async delete(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: PasswordConfirmationDto,
    @Req() request: Request,
  ): Promise<void> {
    await this.accounts.deleteAccount(session.userId, body.password, request);
  }
}
