import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { DOCUMENT_KINDS, DocumentKind } from '../document.entity';

@ApiSchema({ name: 'CreateDocumentRequest' })
export class CreateDocumentDto {
  @ApiProperty({ enum: DOCUMENT_KINDS, example: 'profile-summary' })
  @IsIn(DOCUMENT_KINDS)
  kind: DocumentKind;
}

@ApiSchema({ name: 'Document' })
export class DocumentDto {
  @ApiProperty({
    format: 'uuid',
    example: '6c2f8a4e-1b7d-4e3a-9f5c-8d0e2a4b6c18',
  })
  id: string;

  @ApiProperty({ enum: DOCUMENT_KINDS, example: 'profile-summary' })
  kind: DocumentKind;

  @ApiProperty({ example: 'profile-summary-2026-11-27.pdf' })
  filename: string;

  @ApiProperty({ type: 'integer', example: 18432 })
  sizeBytes: number;

  @ApiProperty({ example: '2026-11-27T10:00:00.000Z' })
  createdAt: Date;

  @ApiProperty({
    example: '2027-02-25T10:00:00.000Z',
    description: 'After this the document and its file are deleted',
  })
  expiresAt: Date;
}

@ApiSchema({ name: 'DocumentPage' })
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
