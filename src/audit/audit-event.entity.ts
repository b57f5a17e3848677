import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
} from 'typeorm';

export type AuditOutcome = 'success' | 'failure';

/**
 * docs/security.md#audit-log: one row per security event, kept after account deletion. It holds
 * ids, never PII or secrets: `userId` becomes unlinkable once the user's rows are gone.
 */
@Entity({ name: 'audit_events' })
@Index('idx_audit_events_user_time', ['userId', 'occurredAt'])
export class AuditEvent {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @CreateDateColumn({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;

  /** e.g. `auth.login`, `auth.password_change`, `data.integrity_failure`. */
  @Column({ type: 'varchar', length: 64 })
  event: string;

  @Column({ type: 'varchar', length: 16 })
  outcome: AuditOutcome;

  @Column({ name: 'user_id', type: 'uuid', nullable: true })
  userId: string | null;

  @Column({ name: 'client_address', type: 'inet', nullable: true })
  clientAddress: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId: string | null;
}
