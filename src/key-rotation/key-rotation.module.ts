import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { DocumentsModule } from '../documents/documents.module';
import { UsersModule } from '../users/users.module';
import { KeyRotationController } from './key-rotation.controller';
import { KeyRotation } from './key-rotation.entity';
import { KeyRotationJob } from './key-rotation.job';
import { KeyRotationRunner } from './key-rotation.runner';
import { KeyRotationService } from './key-rotation.service';

/**
 * `POST /v1/me/keys/rotate` (docs/crypto.md and docs/http-api.md) starts a rotation that
 * `KeyRotationJob` runs (each run carried out by `KeyRotationRunner`); the job also resumes
 * unfinished rotations, told by the key vault whenever a session's keyring is unlocked. Nothing
 * below this module knows that rotation exists.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([KeyRotation]),
    AuthModule,
    UsersModule,
    DocumentsModule,
  ],
  controllers: [KeyRotationController],
  providers: [KeyRotationService, KeyRotationJob, KeyRotationRunner],
  exports: [KeyRotationService],
})
export class KeyRotationModule {}
