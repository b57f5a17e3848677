import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import {
  PurgeReport,
  purgeBatchSql,
  purgeInBatches,
} from '../common/jobs/batched-purge';
import { ScheduledRun } from '../common/jobs/scheduled-run';
import { IdempotencyRecord } from './idempotency-record.entity';

/** Rows deleted per statement (one short transaction each). */
export const IDEMPOTENCY_PURGE_BATCH_ROWS = 1000;
/** Batches per run at most; what remains waits for the next run. */
export const IDEMPOTENCY_PURGE_MAX_BATCHES = 1000;

const PURGE_BATCH = purgeBatchSql('idempotency_records', 'expires_at <= $1', 2);

/**
 * Deletes expired idempotency records (docs/http-api.md#idempotency). Lookups ignore them
 * already; this keeps the table small. Needs no key: it reads only expiry times. Runs hourly on
 * every instance; `run(now)` is public so tests can drive it with a clock.
 */
@Injectable()
export class IdempotencyPurgeService {
  private readonly logger = new Logger(IdempotencyPurgeService.name);
  private readonly runs = new ScheduledRun(
    this.logger,
    'idempotency purge run failed',
  );

  constructor(
    @InjectRepository(IdempotencyRecord)
    private readonly records: Repository<IdempotencyRecord>,
  ) {}

  @Cron(CronExpression.EVERY_HOUR, { name: 'idempotency-purge' })
  scheduled(): Promise<void> {
    return this.runs.start(() => this.run(new Date()));
  }

  async run(now: Date): Promise<PurgeReport> {
    const report = await purgeInBatches(
      async () => {
        const [{ deleted }] = await this.records.query<{ deleted: number }[]>(
          PURGE_BATCH,
          [now, IDEMPOTENCY_PURGE_BATCH_ROWS],
        );
        return deleted;
      },
      {
        batchRows: IDEMPOTENCY_PURGE_BATCH_ROWS,
        maxBatches: IDEMPOTENCY_PURGE_MAX_BATCHES,
      },
    );
    if (report.deleted > 0)
      this.logger.log({ ...report }, 'idempotency purge run');
    return report;
  }
}
