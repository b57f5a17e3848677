import { Column, Entity, PrimaryColumn } from 'typeorm';
import { EncryptedColumn, EncryptionOwner } from '@vault-pii/nest-encryption';

/**
 * A table that held plaintext before adoption (`legacy_contacts`: note text, birthday date,
 * city text), with its two PII columns in plaintext adoption.
 */
@Entity({ name: 'legacy_contacts' })
export class LegacyContact {
  @PrimaryColumn({ type: 'int' })
  id: number;

  @Column({ name: 'owner_id', type: 'uuid', nullable: true })
  @EncryptionOwner()
  ownerId: string | null;

  @EncryptedColumn({ adoptPlaintext: true })
  note: string | null;

  @EncryptedColumn({ adoptPlaintext: true, type: 'date' })
  birthday: Date | null;

  /** Not PII: stays a text column. */
  @Column({ type: 'text', nullable: true })
  city: string | null;
}
