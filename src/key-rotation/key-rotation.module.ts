import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  KeyRotationModule as KeyRotationEngineModule,
  SqlKeyRotationStore,
} from '@vault-pii/nest-encryption';
import { AuthModule } from '../auth/auth.module';
import { AppMetrics } from '../common/metrics/app-metrics';
import { DocumentKeyRotation } from '../documents/document-key-rotation';
import { DocumentsModule } from '../documents/documents.module';
import { UsersModule } from '../users/users.module';
import { KeyRotationController } from './key-rotation.controller';
import { KeyRotation } from './key-rotation.entity';
import { KeyRotationService } from './key-rotation.service';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { AccessKeysModule } from '../auth/access-keys/access-keys.module';

/**
 * `POST /v1/me/keys/rotate` (docs/crypto.md and docs/http-api.md) starts a rotation that the
 * library's `KeyRotationJob` runs (docs/crypto.md#key-rotation); the job also resumes unfinished
 * rotations, told by the key vault whenever a session's keyring is unlocked. The rotation state is
 * this app's tables (`SqlKeyRotationStore`'s defaults), document files take part through
 * `DocumentKeyRotation`, and the counters are `AppMetrics`'.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([KeyRotation]),
    AuthModule,
    UsersModule,
    IdempotencyModule,
    AccessKeysModule,
    KeyRotationEngineModule.forRootAsync({
      imports: [DocumentsModule],
      inject: [DocumentKeyRotation, AppMetrics],
      useFactory: (documents: DocumentKeyRotation, metrics: AppMetrics) => ({
        store: new SqlKeyRotationStore(),
        participants: [documents],
        observer: metrics.rotationObserver(),
      }),
    }),
  ],
  controllers: [KeyRotationController],
  providers: [KeyRotationService],
  exports: [KeyRotationService],
})
export class KeyRotationModule {}
