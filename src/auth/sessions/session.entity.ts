import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
} from 'typeorm';
import { User } from '../../users/user.entity';

/**
 * A login. The session id inside tokens (`sid`, 128 random bits) is stored only as its SHA-256;
 * `id` is the public handle for listing and revoking. The refresh token is stored only as a hash
 * too (`refresh_token_hash`), and so are the session's spent ones, newest first
 * (`spent_refresh_token_hashes`, the last `SPENT_REFRESH_TOKENS_KEPT`): a spent token presented
 * again revokes the session, a token that was never issued does not (docs/sessions.md#refresh-tokens).
 */
@Entity({ name: 'sessions' })
@Index('idx_sessions_user', ['userId'])
export class Session {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ name: 'sid_hash', type: 'bytea', unique: true })
  sidHash: Buffer;

  @Column({ name: 'refresh_token_hash', type: 'bytea', unique: true })
  refreshTokenHash: Buffer;

  @Column({
    name: 'spent_refresh_token_hashes',
    type: 'bytea',
    array: true,
    default: () => "'{}'",
  })
  spentRefreshTokenHashes: Buffer[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz' })
  lastUsedAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;
}
