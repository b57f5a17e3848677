import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { BEARER_AUTH_NAME } from '../common/openapi/bearer-auth';
import { PasswordConfirmationDto } from '../auth/dto/auth.dto';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../auth/guards/authenticated-session';
import { AuthRateLimited } from '../auth/rate-limit/auth-rate-limit.guard';
import {
  ApiProblemResponses,
  BODY_ERRORS,
} from '../common/problem/api-problem-responses';
import { RotatedKeysDto } from './dto/rotated-keys.dto';
import { KeyRotationService } from './key-rotation.service';

@ApiTags('me')
@ApiBearerAuth(BEARER_AUTH_NAME)
@Controller('me/keys')
export class KeyRotationController {
  constructor(private readonly rotation: KeyRotationService) {}

  @Post('rotate')
  @HttpCode(200)
  @AuthRateLimited()
  @ApiOperation({
    summary:
      'Rotate your data key: a new key version and recovery code; your data is re-encrypted',
    description:
      'Answers once the new key is in force and the new recovery code works (the old code stops working at once). ' +
      'Existing data is then re-encrypted in the background and the old key version destroyed; reads work throughout. ' +
      'Your other sessions are signed out. A rotation still running answers 409 `rotation_in_progress`.',
  })
  @ApiOkResponse({ type: RotatedKeysDto })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'invalid_token',
    'session_locked',
    'rotation_in_progress',
    'conflict',
    'too_many_requests',
    'vault_unavailable',
  )
  rotate(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: PasswordConfirmationDto,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<RotatedKeysDto> {
    response.setHeader('Cache-Control', 'no-store');
    return this.rotation.rotate(session, body.password, request);
  }
}
