import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { KeyRotationJobModule } from './key-rotation-job.module';
import { KeyRotationController } from './key-rotation.controller';
import { KeyRotationService } from './key-rotation.service';

/** `POST /v1/me/keys/rotate` (SPEC §1, §5): starts a rotation that `KeyRotationJob` carries out. */
@Module({
  imports: [AuthModule, KeyRotationJobModule],
  controllers: [KeyRotationController],
  providers: [KeyRotationService],
})
export class KeyRotationModule {}
