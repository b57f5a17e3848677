import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isIP } from 'node:net';
import { Repository } from 'typeorm';
import { insertStatement } from '../database/plain-sql';
import { AuditEvent, AuditOutcome } from './audit-event.entity';

export type AuditEventName =
  | 'auth.register'
  | 'auth.login'
  | 'auth.login_locked'
  | 'auth.logout'
  | 'auth.refresh_reuse'
  | 'auth.password_change'
  | 'auth.recovery'
  | 'auth.session_revoke'
  | 'account.delete'
  | 'keys.rotate'
  | 'access_key.create'
  | 'access_key.use'
  | 'access_key.revoke'
  | 'access_key.refused'
  | 'data.integrity_failure';

export interface AuditContext {
  ip?: string;
  id?: unknown;
}

/**
 * docs/security.md#audit-log: security events with user id, time, client address and outcome —
 * never PII or secrets. A failure to write one is logged and does not fail the request it
 * describes.
 */
@Injectable()
export class AuditLogService {
  private readonly logger = new Logger(AuditLogService.name);

  /** Plain SQL (database/plain-sql.ts): every login writes an event, beside one argon2id call. */
  private readonly insertEvent: string;

  constructor(
    @InjectRepository(AuditEvent)
    private readonly events: Repository<AuditEvent>,
  ) {
    this.insertEvent = insertStatement(events.metadata, [
      'event',
      'outcome',
      'userId',
      'clientAddress',
      'requestId',
    ]);
  }

  async record(
    event: AuditEventName,
    outcome: AuditOutcome,
    userId: string | null,
    context: AuditContext = {},
  ): Promise<void> {
    try {
      await this.events.query(this.insertEvent, [
        event,
        outcome,
        userId,
        context.ip && isIP(context.ip) ? context.ip : null,
        typeof context.id === 'string' ? context.id.slice(0, 128) : null,
      ]);
    } catch (error) {
      this.logger.error(
        { event, outcome, err: { type: (error as Error)?.name } },
        'audit event not written',
      );
    }
  }
}
