import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UserDataKey } from '../users/user-data-key.entity';
import { User } from '../users/user.entity';
import { MeController } from '../users/me.controller';
import { UsersService } from '../users/users.service';
import { AccountFlowsService } from './account-flows.service';
import { AccountKeysService } from './account-keys.service';
import { AuthController } from './auth.controller';
import { JwtAuthGuard } from './guards/jwt-auth.guard';
import { JwtStrategy } from './guards/jwt.strategy';
import { Session } from './sessions/session.entity';
import { SessionService } from './sessions/session.service';
import { TokenService } from './tokens/token.service';

/** Accounts, sessions and tokens; its guard protects every route of the app (deny by default). */
@Module({
  imports: [PassportModule, TypeOrmModule.forFeature([User, UserDataKey, Session])],
  controllers: [AuthController, MeController],
  providers: [
    AccountKeysService,
    AccountFlowsService,
    SessionService,
    TokenService,
    UsersService,
    JwtStrategy,
    { provide: APP_GUARD, useClass: JwtAuthGuard },
  ],
})
export class AuthModule {}
