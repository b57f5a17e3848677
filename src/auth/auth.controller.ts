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
  @NoStore()
  @ApiOperation({
    summary: 'Create an account; returns the recovery code once',
  })
  @ApiCreatedResponse({ type: RegisteredDto })
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
    );
    return { userId, email: body.email, recoveryCode };
  }

  @Public()
  @Post('login')
  @AuthRateLimited()
  @HttpCode(200)
  @NoStore()
  @ApiOperation({
    summary:
      'Exchange email and password for tokens (unlocks the data keys for the session)',
  })
  @ApiOkResponse({ type: TokenPairDto })
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
    return this.accounts.login(body.email, body.password, request);
  }

  @Public()
  @Post('refresh')
  @AuthRateLimited()
  @HttpCode(200)
  @Idempotent({ callerSecret: 'bodyField', field: 'refreshToken' })
  @NoStore()
  @ApiOperation({
    summary: 'Rotate the refresh token; a spent one revokes the session',
  })
  @ApiOkResponse({ type: TokenPairDto })
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
    summary:
      'End this session: its keys leave the vault, its tokens stop working',
  })
  @ApiNoContentResponse()
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
    summary: 'Change the password: keys are re-wrapped, other sessions end',
  })
  @ApiNoContentResponse()
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
    summary:
      'Set a new password with the recovery code; returns a new code, ends every session',
  })
  @ApiOkResponse({ type: RecoveryCodeDto })
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
    summary: 'Your live sessions (no secrets), newest first, a page at a time',
  })
  @ApiOkResponse({ type: SessionPageDto })
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
  @ApiOperation({ summary: 'End one of your sessions' })
  @ApiNoContentResponse()
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
