import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
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
import { Idempotent } from '../idempotency/idempotent.decorator';
import { RotatedKeysDto } from './dto/rotated-keys.dto';
import { KeyRotationService } from './key-rotation.service';

@ApiTags('me')
@Controller('me/keys')
export class KeyRotationController {
  constructor(private readonly rotation: KeyRotationService) {}

  @Post('rotate')
  @HttpCode(200)
  @AuthRateLimited()
  @Authenticated()
  @Idempotent({ callerSecret: 'session' })
  @NoStore()
  @ApiOperation({
    operationId: 'rotateKeys',
    summary:
      'Rotate your data key: a new key version and recovery code; your data is re-encrypted',
    description:
      'Answers once the new key is in force and the new recovery code works (the old code stops working at once). ' +
      'Existing data is then re-encrypted in the background and the old key version destroyed; reads work throughout. ' +
      'Your other sessions are signed out. A rotation still running answers 409 `rotation_in_progress`. ' +
      'The answer holds the new recovery code: store it now, it is shown only once.',
  })
  @ApiOkResponse({
    type: RotatedKeysDto,
    description:
      'The new key version is in force. The new `recoveryCode` is shown only once: store it now. It is the only way back into your data if the password is lost; the old code no longer works.',
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'rotation_in_progress',
    'conflict',
    'too_many_requests',
    'service_unavailable',
  )
  rotate(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: PasswordConfirmationDto,
    @Req() request: Request,
  ): Promise<RotatedKeysDto> {
    return this.rotation.rotate(session, body.password, request);
  }
}
