import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Delete,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { Authenticated } from '../common/auth/authenticated.decorator';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../common/auth/authenticated-session';
import { Public } from '../common/auth/public.decorator';
import { NoStore } from '../common/http/no-store.decorator';
import { PageQueryDto } from '../common/pagination/page-query.dto';
import {
  ApiProblemResponses,
  BODY_ERRORS,
} from '../common/problem/api-problem-responses';
import { NotFoundError } from '../common/problem/not-found.error';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { passwordIdempotencySecretHolderOf } from '../idempotency/password-idempotency';
import { AccountFlowsService } from './account-flows.service';
import {
  ChangePasswordDto,
  LoginDto,
  RecoverDto,
  RecoveryCodeDto,
  RefreshDto,
  RegisterDto,
  RegisteredDto,
  SessionPageDto,
  TokenPairDto,
} from './dto/auth.dto';
import { AuthRateLimited } from './rate-limit/auth-rate-limit.guard';
import { RegistrationRateLimited } from './rate-limit/register-email-limit.guard';
import { SessionService } from './sessions/session.service';

const VALIDATION = 'validation_failed' as const;

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly accounts: AccountFlowsService,
    private readonly sessions: SessionService,
  ) {}

  @Public()
  @Post('register')
  @RegistrationRateLimited()
  // Keyed by the password's argon2id output, scoped by the email (docs/http-api.md#idempotency).
  @Idempotent({ callerSecret: 'password', flow: 'register' })
  @NoStore()
  @ApiOperation({
    operationId: 'register',
    summary: 'Create an account; returns the recovery code once',
    description:
      'Creates the account and its data key, wrapped under the password and under a new recovery code; the email and the optional profile are stored encrypted. ' +
      'The answer holds the recovery code: store it now, it is shown only once and is the only way back into the data if the password is lost. ' +
      'Registration does not log in: call `login` next. ' +
      'With an `Idempotency-Key`, a retry with the same body gets the same answer (the same recovery code); it checks the password like a login (a wrong one answers 422 and counts as a failed login).',
  })
  @ApiCreatedResponse({
    type: RegisteredDto,
    description:
      'The account is created. The `recoveryCode` in this answer is shown only once: store it now. It is the only way back into your data if the password is lost.',
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'email_taken',
    'too_many_requests',
    'service_unavailable',
  )
  async register(
    @Body() body: RegisterDto,
    @Req() request: Request,
  ): Promise<RegisteredDto> {
    const { userId, recoveryCode } = await this.accounts.register(
      body.email,
      body.password,
      body.profile,
      request,
      passwordIdempotencySecretHolderOf(request),
    );
    return { userId, email: body.email, recoveryCode };
  }

  @Public()
  @Post('login')
  @AuthRateLimited()
  @HttpCode(200)
  @Idempotent({ callerSecret: 'password', flow: 'login' })
  @NoStore()
  @ApiOperation({
    operationId: 'login',
    summary:
      'Exchange email and password for tokens (unlocks the data keys for the session)',
    description:
      'Checks the password, unlocks the data keys into a new session and returns its token pair. ' +
      'Send the `accessToken` as `Authorization: Bearer …`; refresh before it expires (`expiresIn` seconds). ' +
      'Wrong email and wrong password answer the same 401; repeated failures lock the account for a while (429 with `Retry-After`). ' +
      'With an `Idempotency-Key`, a retry with the same body gets the same token pair (no second session); it checks the password again (a wrong one answers 422 and counts as a failed login).',
  })
  @ApiOkResponse({
    type: TokenPairDto,
    description: 'A new session: its access and refresh tokens',
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'too_many_requests',
    'service_unavailable',
    'vault_unavailable',
  )
  async login(
    @Body() body: LoginDto,
    @Req() request: Request,
  ): Promise<TokenPairDto> {
    return this.accounts.login(
      body.email,
      body.password,
      request,
      passwordIdempotencySecretHolderOf(request),
    );
  }

  @Public()
  @Post('refresh')
  @AuthRateLimited()
  @HttpCode(200)
  @Idempotent({ callerSecret: 'bodyField', field: 'refreshToken' })
  @NoStore()
  @ApiOperation({
    operationId: 'refreshTokens',
    summary: 'Rotate the refresh token; a spent one revokes the session',
    description:
      'Exchanges the refresh token for a new token pair of the same session. Each refresh token works once: presenting a spent one again is taken as theft and ends the session. ' +
      'A 401 `session_locked` on other routes is not cured by refreshing: log in again.',
  })
  @ApiOkResponse({
    type: TokenPairDto,
    description: 'The new token pair; the refresh token sent is now spent',
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_token',
    'too_many_requests',
    'vault_unavailable',
  )
  async refresh(
    @Body() body: RefreshDto,
    @Req() request: Request,
  ): Promise<TokenPairDto> {
    return this.sessions.refresh(body.refreshToken, request);
  }

  // Not @Idempotent: a replay of a logout finds its session ended and answers 401 (the first one's
  // effect stands), so a retry is safe without a stored outcome (docs/http-api.md#idempotency).
  @Post('logout')
  @HttpCode(204)
  @Authenticated()
  @ApiOperation({
    operationId: 'logout',
    summary:
      'End this session: its keys leave the vault, its tokens stop working',
    description:
      "Removes this session's keys from the key vault and revokes its refresh token; the access token stops working at once. Other sessions are untouched.",
  })
  @ApiNoContentResponse({ description: 'The session is ended' })
  async logout(
    @CurrentSession() session: AuthenticatedSession,
    @Req() request: Request,
  ): Promise<void> {
    await this.sessions.revokeByKeyId(session.sessionKeyId);
    await this.accounts.audited('auth.logout', session.userId, request);
  }

  @Post('password')
  @AuthRateLimited()
  @HttpCode(204)
  @Authenticated()
  @Idempotent({ callerSecret: 'session' })
  @ApiOperation({
    operationId: 'changePassword',
    summary: 'Change the password: keys are re-wrapped, other sessions end',
    description:
      'Checks the current password, then re-wraps the data keys under the new one (no data is re-encrypted). This session stays logged in; every other session ends. The recovery code is unchanged.',
  })
  @ApiNoContentResponse({
    description: 'The new password is in force; other sessions are ended',
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'conflict',
    'too_many_requests',
    'service_unavailable',
  )
  async changePassword(
    @CurrentSession() session: AuthenticatedSession,
    @Body() body: ChangePasswordDto,
    @Req() request: Request,
  ): Promise<void> {
    await this.accounts.changePassword(
      session.userId,
      session.sessionKeyId,
      body.currentPassword,
      body.newPassword,
      request,
    );
  }

  @Public()
  @Post('recover')
  @AuthRateLimited()
  @HttpCode(200)
  // Keyed by the recovery code (140 random bits), not the password (docs/http-api.md#idempotency).
  @Idempotent({ callerSecret: 'bodyField', field: 'recoveryCode' })
  @NoStore()
  @ApiOperation({
    operationId: 'recoverAccount',
    summary:
      'Set a new password with the recovery code; returns a new code, ends every session',
    description:
      'For a lost password: the recovery code unlocks the data keys, which are re-wrapped under the new password and a new recovery code. Every session ends; log in with the new password. ' +
      'The answer holds the new recovery code: store it now, it is shown only once, and the old code no longer works.',
  })
  @ApiOkResponse({
    type: RecoveryCodeDto,
    description:
      'The new password is in force. The new `recoveryCode` is shown only once: store it now. It is the only way back into your data if the password is lost again.',
  })
  @ApiProblemResponses(
    ...BODY_ERRORS,
    'invalid_credentials',
    'too_many_requests',
    'conflict',
    'service_unavailable',
  )
  async recover(
    @Body() body: RecoverDto,
    @Req() request: Request,
  ): Promise<RecoveryCodeDto> {
    return this.accounts.recover(
      body.email,
      body.recoveryCode,
      body.newPassword,
      request,
    );
  }

  @Get('sessions')
  @Authenticated()
  @ApiOperation({
    operationId: 'listSessions',
    summary: 'Your live sessions (no secrets), newest first, a page at a time',
    description:
      'Lists your sessions that have not ended, newest first; `current` marks the one making this request. Pass `nextCursor` as `cursor` for the next page.',
  })
  @ApiOkResponse({ type: SessionPageDto, description: 'One page of sessions' })
  @ApiProblemResponses(VALIDATION)
  listSessions(
    @CurrentSession() session: AuthenticatedSession,
    @Query() query: PageQueryDto,
  ): Promise<SessionPageDto> {
    return this.sessions.listForUser(
      session.userId,
      session.sessionKeyId,
      query,
    );
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  @Authenticated()
  @ApiOperation({
    operationId: 'revokeSession',
    summary: 'End one of your sessions',
    description:
      "Ends the session with this id (e.g. a lost device's): its keys leave the vault and its tokens stop working. Ending the current one is a logout.",
  })
  @ApiParam({
    name: 'id',
    format: 'uuid',
    description: 'The session id, from `listSessions`',
  })
  @ApiNoContentResponse({ description: 'The session is ended' })
  @ApiProblemResponses(VALIDATION, 'not_found')
  async revokeSession(
    @CurrentSession() session: AuthenticatedSession,
    @Param(
      'id',
      new ParseUUIDPipe({
        exceptionFactory: () => new NotFoundError('session'),
      }),
    )
    id: string,
    @Req() request: Request,
  ): Promise<void> {
    if (!(await this.sessions.revokeById(session.userId, id)))
      throw new NotFoundError('session');
    await this.accounts.audited('auth.session_revoke', session.userId, request);
  }
}
