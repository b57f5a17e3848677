import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module';
import { AccessKeysModule } from './access-keys/access-keys.module';
import { AccountFlowsService } from './account-flows.service';
import { AccountKeysService } from './account-keys.service';
import { AuthController } from './auth.controller';
import { CredentialCheckService } from './credential-check.service';
import { JwtAuthGuard } from './guards/jwt-auth.guard';
import { JwtStrategy } from './guards/jwt.strategy';
import { PasswordKdf } from './kdf/password-kdf';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { SessionPurgeService } from './sessions/session-purge.service';
import { Session } from './sessions/session.entity';
import { SessionService } from './sessions/session.service';
import { TokenService } from './tokens/token.service';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { PASSWORD_REPLAY_RESOLVER } from '../idempotency/password-idempotency';
import { PasswordReplayService } from './password-replay.service';

/**
 * Accounts, sessions and tokens; its guard protects every route of the app (deny by default).
 * The auth routes are rate limited per client address; every password or recovery-code check, here
 * or in another module (`CredentialCheckService`), per account (docs/security.md#rate-limits).
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([Session]),
    UsersModule,
    RateLimitModule,
    IdempotencyModule,
    AccessKeysModule,
  ],
  controllers: [AuthController],
  providers: [
    PasswordKdf,
    AccountKeysService,
    AccountFlowsService,
    CredentialCheckService,
    PasswordReplayService,
    // The idempotency interceptor opens register and login records through it.
    { provide: PASSWORD_REPLAY_RESOLVER, useExisting: PasswordReplayService },
    SessionService,
    SessionPurgeService,
    TokenService,
    JwtStrategy,
    { provide: APP_GUARD, useClass: JwtAuthGuard },
  ],
  exports: [AccountKeysService, CredentialCheckService, SessionService],
})
export class AuthModule {}
