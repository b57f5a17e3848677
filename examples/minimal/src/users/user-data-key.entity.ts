import {
  Column,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  type Relation,
} from 'typeorm';
import { User } from './user.entity';

/** One version of a user's data key, stored only wrapped: by their password's KEK and by their recovery KEK. */
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

  @ManyToOne(() => User, (user) => user.dataKeys, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;
}
