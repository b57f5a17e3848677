import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UserDataKey } from './user-data-key.entity';
import { User } from './user.entity';
import { UsersService } from './users.service';

/**
 * Accounts and their wrapped data keys: the table every feature's user data hangs off (their
 * rows reference `users` and go with it; the audit log does not). Owns no route; `/v1/me` is `MeModule`'s, authentication
 * `AuthModule`'s.
 */
@Module({
  imports: [TypeOrmModule.forFeature([User, UserDataKey])],
  providers: [UsersService],
  exports: [UsersService],
})
export class UsersModule {}
