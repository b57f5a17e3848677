import {
  Column,
  Entity,
  JoinColumn,
  OneToOne,
  PrimaryColumn,
  UpdateDateColumn,
} from 'typeorm';
import { User } from '../../../src/users/user.entity';

/**
 * BENCH ONLY, never registered in the production app: the plaintext twin of `Profile`
 * (src/profile/profile.entity.ts) — the same fields, relation and names, but plain `text`
 * columns, so the HTTP bench can price exactly what encryption adds to `GET /v1/me/profile`.
 */
@Entity({ name: 'bench_plain_profiles' })
export class PlainProfile {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ name: 'full_name', type: 'text', nullable: true })
  fullName: string | null;

  @Column({ name: 'date_of_birth', type: 'text', nullable: true })
  dateOfBirth: string | null;

  @Column({ type: 'text', nullable: true })
  phone: string | null;

  @Column({ type: 'text', nullable: true })
  address: string | null;

  @Column({ name: 'national_id', type: 'text', nullable: true })
  nationalId: string | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @OneToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;
}
