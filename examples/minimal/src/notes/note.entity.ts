import { EncryptedColumn } from '@vault-pii/nest-encryption';
import {
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
} from 'typeorm';
import { User } from '../users/user.entity';

/**
 * A note whose title and body are sealed under its owner's data key: the owner is the relation
 * to `User` (the entity with `@EncryptionOwner`), which is also what key rotation follows.
 */
@Entity({ name: 'notes' })
export class Note {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @ManyToOne(() => User, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id' })
  owner: Relation<User>;

  @EncryptedColumn({ nullable: false })
  title: string;

  @EncryptedColumn({ nullable: false })
  body: string;

  /** Not encrypted: the database can sort by it (it cannot sort encrypted columns). */
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
