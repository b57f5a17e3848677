import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DocumentsModule } from '../documents/documents.module';
import { KeyRotationJobModule } from '../key-rotation/key-rotation-job.module';
import { UserDataKey } from '../users/user-data-key.entity';
import { User } from '../users/user.entity';
import { KeyRotation } from '../key-rotation/key-rotation.entity';
import { MeController } from '../users/me.controller';
import { UsersService } from '../users/users.service';
import { AccountFlowsService } from './account-flows.service';
import { AccountKeysService } from './account-keys.service';
import { AuthController } from './auth.controller';
import { JwtAuthGuard } from './guards/jwt-auth.guard';
import { JwtStrategy } from './guards/jwt.strategy';
import { PasswordKdf } from './kdf/password-kdf';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { Session } from './sessions/session.entity';
import { SessionService } from './sessions/session.service';
import { TokenService } from './tokens/token.service';

/**
 * Accounts, sessions and tokens; its guard protects every route of the app (deny by default).
 * The auth routes are rate limited per client address and, for login, per account (SPEC §7).
 */
@Module({
  imports: [
    PassportModule,
    TypeOrmModule.forFeature([User, UserDataKey, Session, KeyRotation]),
    RateLimitModule,
    DocumentsModule,
    KeyRotationJobModule,
  ],
  controllers: [AuthController, MeController],
  providers: [
    PasswordKdf,
    AccountKeysService,
    AccountFlowsService,
    SessionService,
    TokenService,
    UsersService,
    JwtStrategy,
    { provide: APP_GUARD, useClass: JwtAuthGuard },
  ],
  exports: [AccountKeysService, SessionService, UsersService],
})
export class AuthModule {}
