import { EncryptionOwner } from '@vault-pii/nest-encryption';
import type { Argon2Params } from '@vault-pii/nest-encryption/crypto';
import {
  Column,
  CreateDateColumn,
  Entity,
  OneToMany,
  PrimaryColumn,
  type Relation,
} from 'typeorm';
import { UserDataKey } from './user-data-key.entity';

/**
 * An account: what verifies its password (never a hash that yields a key) and the salts of its
 * password and recovery code. Its id owns every encrypted row (`@EncryptionOwner`).
 */
@Entity({ name: 'users' })
export class User {
  @PrimaryColumn({ type: 'uuid' })
  @EncryptionOwner()
  id: string;

  /** Not PII in this example; an email would be an `@EncryptedColumn` with a server-keyed `@BlindIndex`. */
  @Column({ type: 'text', unique: true })
  username: string;

  @Column({ name: 'auth_verifier', type: 'bytea' })
  authVerifier: Buffer;

  @Column({ name: 'kdf_salt', type: 'bytea' })
  kdfSalt: Buffer;

  @Column({ name: 'kdf_params', type: 'jsonb' })
  kdfParams: Argon2Params;

  @Column({ name: 'recovery_salt', type: 'bytea' })
  recoverySalt: Buffer;

  @Column({ name: 'active_key_version', type: 'int' })
  activeKeyVersion: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @OneToMany(() => UserDataKey, (key) => key.user)
  dataKeys?: Relation<UserDataKey>[];
}
