import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RateLimitRedisModule } from '../auth/rate-limit/rate-limit.module';
import { ContactsModule } from '../contacts/contacts.module';
import { ProfileModule } from '../profile/profile.module';
import { UsersModule } from '../users/users.module';
import { DocumentCipher } from './document-cipher';
import { DocumentCreationLimit } from './document-creation-limit';
import { DocumentFiles } from './document-files';
import { DocumentKeyRotation } from './document-key-rotation';
import { DocumentRetentionService } from './document-retention.service';
import { StoredDocument } from './document.entity';
import { DocumentsController } from './documents.controller';
import { DocumentsService } from './documents.service';
import { PdfRenderPool } from './pdf-render-pool';
import { IdempotencyModule } from '../idempotency/idempotency.module';

/**
 * Server-generated PDFs, encrypted on disk as a stream, and their expiry. Reads the account,
 * profile and contacts it renders through those modules' services, renders in a worker pool, and
 * counts creations in the rate limits' store; exports what account deletion and key rotation need.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([StoredDocument]),
    UsersModule,
    ProfileModule,
    ContactsModule,
    RateLimitRedisModule,
    IdempotencyModule,
  ],
  controllers: [DocumentsController],
  providers: [
    DocumentsService,
    DocumentCipher,
    DocumentFiles,
    DocumentRetentionService,
    DocumentKeyRotation,
    PdfRenderPool,
    DocumentCreationLimit,
  ],
  exports: [DocumentsService, DocumentKeyRotation, DocumentFiles],
})
export class DocumentsModule {}
