import { AppMetrics } from '../../common/metrics/app-metrics';
import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { InjectRepository } from '@nestjs/typeorm';
import { performance } from 'node:perf_hooks';
import { Repository } from 'typeorm';
import {
  PurgeReport,
  purgeBatchSql,
  purgeInBatches,
} from '../../common/jobs/batched-purge';
import { ScheduledRun } from '../../common/jobs/scheduled-run';
import { Session } from './session.entity';
import { SessionService } from './session.service';

/**
 * How long a session's row outlives its end. Nothing needs it longer: once a session is revoked
 * or past `expires_at`, a refresh answers 401 before any token hash is compared, row or no row.
 * An idled-out session's row still tells a spent refresh token (audited as `auth.refresh_reuse`)
 * from a forged one, though both answer 401; the grace keeps that signal an hour, and absorbs
 * clock differences between instances and a vault entry slid late (a key rotation re-storing it).
 */
export const ENDED_SESSION_GRACE_MS = 60 * 60 * 1000;
/** Rows deleted per statement (one short transaction each). */
export const SESSION_PURGE_BATCH_ROWS = 1000;
/** Batches per run at most; what remains waits for the next run. */
export const SESSION_PURGE_MAX_BATCHES = 1000;

/** One batch of ended rows (a row a refresh is updating right now is left for the next run). */
const PURGE_BATCH = purgeBatchSql(
  'sessions',
  'revoked_at <= $1 OR expires_at <= $1 OR last_used_at <= $2',
  3,
);

export type SessionPurgeReport = PurgeReport;

/**
 * docs/sessions.md#purge-of-ended-sessions: deletes the rows of sessions that ended (revoked, past `SESSION_MAX_TTL`,
 * or idled out) at least `ENDED_SESSION_GRACE_MS` ago, in batches. Never a live session's: every
 * condition is one a live session cannot meet. Needs no key. Runs hourly on every instance; `run(now)`
 * is public so tests can drive it with a clock.
 */
@Injectable()
export class SessionPurgeService {
  private readonly logger = new Logger(SessionPurgeService.name);
  private readonly runs = new ScheduledRun(
    this.logger,
    'session purge run failed',
  );

  constructor(
    @InjectRepository(Session) private readonly sessions: Repository<Session>,
    private readonly sessionService: SessionService,
    private readonly metrics: AppMetrics,
  ) {}

  @Cron(CronExpression.EVERY_HOUR, { name: 'session-purge' })
  scheduled(): Promise<void> {
    return this.runs.start(() => this.run(new Date()));
  }

  async run(now: Date): Promise<SessionPurgeReport> {
    const started = performance.now();
    const endedBefore = new Date(now.getTime() - ENDED_SESSION_GRACE_MS);
    const idleBefore = new Date(
      this.sessionService.idleEndedBefore(now).getTime() -
        ENDED_SESSION_GRACE_MS,
    );
    const report: SessionPurgeReport = await purgeInBatches(
      async () => {
        const [{ deleted }] = await this.sessions.query<{ deleted: number }[]>(
          PURGE_BATCH,
          [endedBefore, idleBefore, SESSION_PURGE_BATCH_ROWS],
        );
        this.metrics.retentionDeletions.inc({ kind: 'ended_session' }, deleted);
        return deleted;
      },
      {
        batchRows: SESSION_PURGE_BATCH_ROWS,
        maxBatches: SESSION_PURGE_MAX_BATCHES,
      },
    );
    // Counts only: no user or session ids.
    this.logger.log(
      { ...report, durationMs: Math.round(performance.now() - started) },
      'session purge run',
    );
    return report;
  }
}
