import { Body, Controller, Get, Patch, Put, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
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
import {
  ProfileDto,
  ReplaceProfileDto,
  UpdateProfileDto,
} from './dto/profile.dto';
import { ProfileService } from './profile.service';

@ApiTags('me')
@ApiBearerAuth(BEARER_AUTH_NAME)
@Controller('me/profile')
export class ProfileController {
  constructor(private readonly profiles: ProfileService) {}

  @Get()
  @ApiOperation({ summary: 'Your profile (decrypted with your session keys)' })
  @ApiOkResponse({ type: ProfileDto })
  @ApiProblemResponses(
    'invalid_token',
    'session_locked',
    'vault_unavailable',
    'data_integrity_error',
  )
  get(
    @CurrentSession() session: AuthenticatedSession,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProfileDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.profiles.get(session.userId);
  }

  @Put()
  @ApiOperation({
    summary: 'Replace your profile (every field required; null clears it)',
  })
  @ApiOkResponse({ type: ProfileDto })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'rotation_in_progress',
    'invalid_token',
    'session_locked',
    'vault_unavailable',
  )
  replace(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: ReplaceProfileDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProfileDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.profiles.replace(session.userId, body);
  }

  @Patch()
  @ApiOperation({ summary: 'Change some fields of your profile' })
  @ApiOkResponse({ type: ProfileDto })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'rotation_in_progress',
    'invalid_token',
    'session_locked',
    'vault_unavailable',
  )
  update(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: UpdateProfileDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ProfileDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.profiles.update(session.userId, body);
  }
}
