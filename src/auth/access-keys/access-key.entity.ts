import {
  Column,
  CreateDateColumn,
  Entity,
  ForeignKey,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  type Relation,
} from 'typeorm';
import { User } from '../../users/user.entity';
import { UserDataKey } from '../../users/user-data-key.entity';
import type { AccessKeyScope } from '../../common/auth/access-key-scopes';

/**
 * A machine's access key (docs/access-keys.md): what it may do, until when, from where. Its secret
 * is never stored: `lookupHash` finds it (HKDF of secret and server secret), `sealedPublicKey` is
 * the public half of the key pair the secret derives, sealed under a server key.
 */
@Entity({ name: 'access_keys' })
@Index('idx_access_keys_user_created', ['userId', 'createdAt', 'id'])
export class AccessKey {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  /** A label chosen by its owner, shown in the list (documented: not for personal data). */
  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'text', array: true })
  scopes: AccessKeyScope[];

  /** IP addresses and CIDR ranges the key may be used from; null: any. */
  @Column({
    name: 'allowed_addresses',
    type: 'text',
    array: true,
    nullable: true,
  })
  allowedAddresses: string[] | null;

  @Index('idx_access_keys_lookup_hash', { unique: true })
  @Column({ name: 'lookup_hash', type: 'bytea' })
  lookupHash: Buffer;

  @Column({ name: 'sealed_public_key', type: 'bytea' })
  sealedPublicKey: Buffer;

  @Index('idx_access_keys_expires_at')
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;
}

/**
 * One data key version sealed to one access key's public key (crypto_box_seal). Goes with its
 * access key (revocation, expiry purge, account deletion) and with its data key version (a key
 * rotation destroying the old version): both foreign keys cascade.
 */
@Entity({ name: 'access_key_data_keys' })
// The cascade from `user_data_keys` (a rotation destroying a version) finds the wraps by it.
@Index('idx_access_key_data_keys_user_version', ['userId', 'keyVersion'])
@ForeignKey(
  () => UserDataKey,
  ['userId', 'keyVersion'],
  ['userId', 'keyVersion'],
  {
    onDelete: 'CASCADE',
  },
)
export class AccessKeyDataKey {
  @PrimaryColumn({ name: 'access_key_id', type: 'uuid' })
  accessKeyId: string;

  @PrimaryColumn({ name: 'key_version', type: 'int' })
  keyVersion: number;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ name: 'sealed_data_key', type: 'bytea' })
  sealedDataKey: Buffer;

  @ManyToOne(() => AccessKey, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'access_key_id' })
  accessKey?: Relation<AccessKey>;
}
