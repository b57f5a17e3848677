import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
  type Relation,
} from 'typeorm';
import { normalizePhone } from '@vault-pii/nest-encryption/crypto';
import { emailIndexForm, legacyEmailIndexForm } from '../crypto/email-address';
import { BlindIndex, EncryptedColumn } from '@vault-pii/nest-encryption';
import { User } from '../users/user.entity';

/** An address-book entry: every field encrypted, email and phone searchable by per-user blind index. */
@Entity({ name: 'contacts' })
@Index('idx_contacts_owner_page', ['ownerId', 'createdAt', 'id'])
@Index('idx_contacts_owner_email', ['ownerId', 'emailIndex'])
@Index('idx_contacts_owner_phone', ['ownerId', 'phoneIndex'])
export class Contact {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @EncryptedColumn({ name: 'full_name', nullable: false })
  fullName: string;

  @EncryptedColumn()
  email: string | null;

  @BlindIndex({
    source: 'email',
    normalize: emailIndexForm,
    legacyNormalize: legacyEmailIndexForm,
    name: 'email_index',
  })
  emailIndex: Buffer | null;

  @EncryptedColumn()
  phone: string | null;

  @BlindIndex({
    source: 'phone',
    normalize: normalizePhone,
    name: 'phone_index',
  })
  phoneIndex: Buffer | null;

  @EncryptedColumn()
  address: string | null;

  @EncryptedColumn()
  notes: string | null;

  /** Millisecond precision, as JavaScript dates have: the page cursor compares it exactly. */
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id' })
  owner?: Relation<User>;
}
