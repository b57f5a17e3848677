import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../../auth/auth.module';
import { UsersModule } from '../../users/users.module';
import { AccessKey } from '../../auth/access-keys/access-key.entity';
import { AccessKeysController } from './access-keys.controller';
import { AccessKeysModule } from '../../auth/access-keys/access-keys.module';
import { AccessKeysService } from './access-keys.service';

/** `/v1/me/access-keys` (docs/access-keys.md): create, list, read and revoke, from a password session. */
@Module({
  imports: [
    TypeOrmModule.forFeature([AccessKey]),
    AccessKeysModule,
    AuthModule,
    UsersModule,
  ],
  controllers: [AccessKeysController],
  providers: [AccessKeysService],
})
export class AccessKeyManagementModule {}
