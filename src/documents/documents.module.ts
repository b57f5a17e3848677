import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Contact } from '../contacts/contact.entity';
import { Profile } from '../profile/profile.entity';
import { User } from '../users/user.entity';
import { DocumentFiles } from './document-files';
import { DocumentKeyRotation } from './document-key-rotation';
import { DocumentRetentionService } from './document-retention.service';
import { StoredDocument } from './document.entity';
import { DocumentsController } from './documents.controller';
import { DocumentsService } from './documents.service';

@Module({
  imports: [TypeOrmModule.forFeature([StoredDocument, Profile, Contact, User])],
  controllers: [DocumentsController],
  providers: [
    DocumentsService,
    DocumentFiles,
    DocumentRetentionService,
    DocumentKeyRotation,
  ],
  exports: [DocumentFiles, DocumentKeyRotation],
})
export class DocumentsModule {}
