import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ContactsModule } from '../contacts/contacts.module';
import { ProfileModule } from '../profile/profile.module';
import { UsersModule } from '../users/users.module';
import { DocumentCipher } from './document-cipher';
import { DocumentFiles } from './document-files';
import { DocumentKeyRotation } from './document-key-rotation';
import { DocumentRetentionService } from './document-retention.service';
import { StoredDocument } from './document.entity';
import { DocumentsController } from './documents.controller';
import { DocumentsService } from './documents.service';

/**
 * Server-generated PDFs, encrypted on disk as a stream, and their expiry. Reads the account,
 * profile and contacts it renders through those modules' services; exports what account deletion
 * and key rotation need.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([StoredDocument]),
    UsersModule,
    ProfileModule,
    ContactsModule,
  ],
  controllers: [DocumentsController],
  providers: [
    DocumentsService,
    DocumentCipher,
    DocumentFiles,
    DocumentRetentionService,
    DocumentKeyRotation,
  ],
  exports: [DocumentsService, DocumentKeyRotation, DocumentFiles],
})
export class DocumentsModule {}
