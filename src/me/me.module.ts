import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { AccessKeysModule } from '../auth/access-keys/access-keys.module';
import { DocumentsModule } from '../documents/documents.module';
import { KeyRotationModule } from '../key-rotation/key-rotation.module';
import { UsersModule } from '../users/users.module';
import { AccountDeletionService } from './account-deletion.service';
import { MeController } from './me.controller';

/**
 * `/v1/me`: the caller's own account, read (with its key rotation's progress) and deleted. It
 * sits above the features it composes, so none of them needs to know about the others.
 */
@Module({
  imports: [
    UsersModule,
    AuthModule,
    AccessKeysModule,
    DocumentsModule,
    KeyRotationModule,
  ],
  controllers: [MeController],
  providers: [AccountDeletionService],
})
export class MeModule {}
