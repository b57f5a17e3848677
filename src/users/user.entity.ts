import {
  Column,
  CreateDateColumn,
  Entity,
  OneToMany,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import { emailIndexForm, legacyEmailIndexForm } from '../crypto/email-address';
import type { Argon2Params } from '@vault-pii/nest-encryption/crypto';
import {
  BlindIndex,
  EncryptedColumn,
  EncryptionOwner,
} from '@vault-pii/nest-encryption';
import { UserDataKey } from './user-data-key.entity';

/**
 * An account. Holds no password hash that could yield a key: only the argon2id salt and cost,
 * the auth verifier (SHA-256 of an HKDF branch), and the recovery code's salt. The
 * login email is PII like any other: encrypted under the user's DEK, found by its server-keyed
 * blind index.
 */
@Entity({ name: 'users' })
export class User {
  /** Owner of every encrypted row: its data keys encrypt them (rotation finds rows through it). */
  @PrimaryGeneratedColumn('uuid')
  @EncryptionOwner()
  id: string;

  @EncryptedColumn({ nullable: false })
  email: string;

  @BlindIndex({
    source: 'email',
    normalize: emailIndexForm,
    legacyNormalize: legacyEmailIndexForm,
    keyedBy: 'server',
    unique: true,
    name: 'email_index',
  })
  emailIndex: Buffer | null;

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

  /** Optimistic lock: two password changes at once cannot both re-wrap the keys. */
  @VersionColumn()
  version: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @OneToMany(() => UserDataKey, (key) => key.user)
  dataKeys?: UserDataKey[];
}
