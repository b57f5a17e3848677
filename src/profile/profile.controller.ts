import { Body, Controller, Get, Patch, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
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
import {
  ProfileDto,
  ReplaceProfileDto,
  UpdateProfileDto,
} from './dto/profile.dto';
import { ProfileService } from './profile.service';

@ApiTags('me')
@Controller('me/profile')
export class ProfileController {
  constructor(private readonly profiles: ProfileService) {}

  @Get()
  @Authenticated({ accessKeyScope: 'profile:read' })
  @NoStore()
  @ApiOperation({
    operationId: 'getProfile',
    summary: 'Your profile (decrypted with your session keys)',
    description:
      'Every profile field, decrypted with the keys of this session; a field never set is null.',
  })
  @ApiOkResponse({ type: ProfileDto, description: 'Your profile' })
  @ApiProblemResponses('data_integrity_error')
  get(@CurrentSession() session: AuthenticatedSession): Promise<ProfileDto> {
    return this.profiles.get(session.userId);
  }

  @Put()
  @Authenticated({ accessKeyScope: 'profile:write' })
  @NoStore()
  @ApiOperation({
    operationId: 'replaceProfile',
    summary: 'Replace your profile (every field required; null clears it)',
    description:
      'Stores the whole profile, encrypted: every field must be present, `null` to clear it. Answers the profile as stored.',
  })
  @ApiOkResponse({ type: ProfileDto, description: 'The profile as stored' })
  @ApiProblemResponses(...BODY_ERRORS, 'rotation_in_progress')
  replace(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: ReplaceProfileDto,
  ): Promise<ProfileDto> {
    return this.profiles.replace(session.userId, body);
  }

  @Patch()
  @Authenticated({ accessKeyScope: 'profile:write' })
  @NoStore()
  @ApiOperation({
    operationId: 'updateProfile',
    summary: 'Change some fields of your profile',
    description:
      'Changes only the fields sent (`null` clears one); the others keep their values. Answers the whole profile as stored.',
  })
  @ApiOkResponse({ type: ProfileDto, description: 'The profile as stored' })
  @ApiProblemResponses(...BODY_ERRORS, 'rotation_in_progress')
  update(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: UpdateProfileDto,
  ): Promise<ProfileDto> {
    return this.profiles.update(session.userId, body);
  }
}
