import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { DOCUMENT_KINDS, DocumentKind } from '../document.entity';

export class CreateDocumentDto {
  @ApiProperty({ enum: DOCUMENT_KINDS, example: 'profile-summary' })
  @IsIn(DOCUMENT_KINDS)
  kind: DocumentKind;
}

export class DocumentDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: DOCUMENT_KINDS })
  kind: DocumentKind;

  @ApiProperty({ example: 'profile-summary-2026-11-27.pdf' })
  filename: string;

  @ApiProperty({ example: 18432 })
  sizeBytes: number;

  @ApiProperty()
  createdAt: Date;

  @ApiProperty({
    description: 'After this the document and its file are deleted',
  })
  expiresAt: Date;
}

export class DocumentPageDto {
  @ApiProperty({ type: [DocumentDto] })
  items: DocumentDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'MjAyNi0xMS0yN1QxMDowMDowMC4wMDBafDhmMTRlNDVm',
    description: 'Pass as `cursor` for the next page; null on the last page',
  })
  nextCursor: string | null;
}
