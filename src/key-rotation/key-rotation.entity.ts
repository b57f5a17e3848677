import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  OneToOne,
  PrimaryColumn,
  UpdateDateColumn,
  type Relation,
} from 'typeorm';
import { User } from '../users/user.entity';

const bigintAsNumber = {
  to: (value: number) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/**
 * A key rotation that has started and not finished (docs/crypto.md#key-rotation): the row exists
 * from the moment the new data key is in force until the old one is destroyed, so a process that
 * dies in between leaves it for the next login or request of the user to finish. No secrets, no
 * PII.
 */
@Entity({ name: 'key_rotations' })
export class KeyRotation {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  /** The version being retired: its wrapped key is deleted once no ciphertext under it remains. */
  @Column({ name: 'from_version', type: 'int' })
  fromVersion: number;

  @Column({ name: 'to_version', type: 'int' })
  toVersion: number;

  @CreateDateColumn({ name: 'started_at', type: 'timestamptz' })
  startedAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  /** Progress, summed over every run (a resumed rotation adds to it). */
  @Column({
    name: 'rows_reencrypted',
    type: 'bigint',
    default: 0,
    transformer: bigintAsNumber,
  })
  rowsReencrypted: number;

  @Column({
    name: 'values_reencrypted',
    type: 'bigint',
    default: 0,
    transformer: bigintAsNumber,
  })
  valuesReencrypted: number;

  @Column({ name: 'files_reencrypted', type: 'int', default: 0 })
  filesReencrypted: number;

  @OneToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;
}
