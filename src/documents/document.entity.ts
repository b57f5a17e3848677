import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
} from 'typeorm';
import { EncryptedColumn } from '@vault-pii/nest-encryption';
import { User } from '../users/user.entity';

export const DOCUMENT_KINDS = ['profile-summary'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/**
 * A generated PDF: its bytes live encrypted in `DATA_DIR/documents/<id>.vpd`; this row holds the
 * metadata. The filename may carry PII (a name), so it is encrypted too; `expires_at` is plain so
 * the retention job can delete without any key.
 */
@Entity({ name: 'documents' })
@Index('idx_documents_owner_created', ['ownerId', 'createdAt'])
@Index('idx_documents_expires', ['expiresAt'])
export class StoredDocument {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ type: 'varchar', length: 32 })
  kind: DocumentKind;

  @EncryptedColumn({ nullable: false })
  filename: string;

  /** Size of the PDF (plaintext); the file on disk is a little larger. */
  @Column({
    name: 'size_bytes',
    type: 'bigint',
    transformer: { to: (v: number) => v, from: (v: string) => Number(v) },
  })
  sizeBytes: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', precision: 3 })
  expiresAt: Date;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id' })
  owner?: Relation<User>;
}
