import { Module } from '@nestjs/common';
import { DocumentsModule } from '../documents/documents.module';
import { KeyRotationJob } from './key-rotation.job';

/**
 * The re-encryption job and its resume hooks. Needs no auth code, so the auth module imports it
 * (login and the JWT strategy resume unfinished rotations) without a cycle.
 */
@Module({
  imports: [DocumentsModule],
  providers: [KeyRotationJob],
  exports: [KeyRotationJob],
})
export class KeyRotationJobModule {}
