import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryColumn,
} from 'typeorm';

export type IdempotencyRecordState = 'in_progress' | 'completed';

/**
 * One `Idempotency-Key` of one caller on one route (docs/http-api.md#idempotency). Holds no
 * plaintext PII, no key and no secret: the id and the fingerprint are HMACs, the outcome an AEAD
 * envelope, each keyed by a secret only the caller holds (`idempotency-secrets.ts`). No user id
 * either: a record cannot be linked to an account, and expires after 24 hours.
 */
@Entity({ name: 'idempotency_records' })
@Index('idx_idempotency_records_expires_at', ['expiresAt'])
export class IdempotencyRecord {
  /** HMAC-SHA256 under the server idempotency key of (route, caller scope, key). */
  @PrimaryColumn({ type: 'bytea' })
  id: Buffer;

  @Column({ type: 'text' })
  state: IdempotencyRecordState;

  /**
   * HMAC-SHA256 of method, path and canonical body under the caller-keyed fingerprint key. Null
   * while a register or login runs: its key comes from the flow's argon2id.
   */
  @Column({ type: 'bytea', nullable: true })
  fingerprint: Buffer | null;

  /** Random per run: only the run that holds the lease may complete or release the record. */
  @Column({ name: 'lease_token', type: 'bytea', nullable: true })
  leaseToken: Buffer | null;

  /** While in progress: after this time another request with the key takes the record over. */
  @Column({ name: 'lease_expires_at', type: 'timestamptz' })
  leaseExpiresAt: Date;

  /** Requests that reused the key with another body; past a bound the record replays nothing. */
  @Column({ name: 'mismatches', type: 'int', default: 0 })
  mismatches: number;

  @Column({ name: 'response_status', type: 'smallint', nullable: true })
  responseStatus: number | null;

  /** The outcome (safe headers and JSON body), sealed under the caller-keyed sealing key. */
  @Column({ name: 'response_envelope', type: 'bytea', nullable: true })
  responseEnvelope: Buffer | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** Ignored from then on, deleted by the purge job. */
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}
