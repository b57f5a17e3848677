import {
  Entity,
  JoinColumn,
  OneToOne,
  PrimaryColumn,
  UpdateDateColumn,
  type Relation,
} from 'typeorm';
import { EncryptedColumn } from '@vault-pii/nest-encryption';
import { User } from '../users/user.entity';

/**
 * The user's own PII (docs/http-api.md#profile): every field encrypted under their DEK; each may be
 * null.
 */
@Entity({ name: 'profiles' })
export class Profile {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @EncryptedColumn({ name: 'full_name' })
  fullName: string | null;

  /** ISO date `YYYY-MM-DD`, kept as text: a birth date has no time zone. */
  @EncryptedColumn({ name: 'date_of_birth', type: 'string' })
  dateOfBirth: string | null;

  @EncryptedColumn()
  phone: string | null;

  @EncryptedColumn()
  address: string | null;

  @EncryptedColumn({ name: 'national_id' })
  nationalId: string | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @OneToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;
}
