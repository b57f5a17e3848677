import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  type Relation,
} from 'typeorm';
import { User } from './user.entity';

/** One version of a user's DEK, stored only wrapped: by the password's KEK and by the recovery KEK. */
@Entity({ name: 'user_data_keys' })
export class UserDataKey {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @PrimaryColumn({ name: 'key_version', type: 'int' })
  keyVersion: number;

  @Column({ name: 'wrapped_by_password', type: 'bytea' })
  wrappedByPassword: Buffer;

  @Column({ name: 'wrapped_by_recovery', type: 'bytea' })
  wrappedByRecovery: Buffer;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @ManyToOne(() => User, (user) => user.dataKeys, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;
}
