import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  PurgeReport,
  purgeBatchSql,
  purgeInBatches,
} from '../../common/jobs/batched-purge';
import { ScheduledRun } from '../../common/jobs/scheduled-run';
import { AppMetrics } from '../../common/metrics/app-metrics';

/** Rows deleted per statement (one short transaction each), and batches per run at most. */
export const ACCESS_KEY_PURGE_BATCH_ROWS = 1000;
export const ACCESS_KEY_PURGE_MAX_BATCHES = 100;

const PURGE_BATCH = purgeBatchSql('access_keys', 'expires_at <= $1', 2);

/**
 * docs/access-keys.md#expiry: deletes expired access keys, and with them their wrapped data keys,
 * hourly on every instance. Until then an expired key answers 401 `access_key_expired` and still
 * shows in its owner's list. Needs no key; `run(now)` is public so tests can drive it.
 */
@Injectable()
export class AccessKeyPurgeService {
  private readonly logger = new Logger(AccessKeyPurgeService.name);
  private readonly runs = new ScheduledRun(
    this.logger,
    'access key purge run failed',
  );

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: AppMetrics,
  ) {}

  @Cron(CronExpression.EVERY_HOUR, { name: 'access-key-purge' })
  scheduled(): Promise<void> {
    return this.runs.start(() => this.run(new Date()));
  }

  async run(now: Date): Promise<PurgeReport> {
    const report = await purgeInBatches(
      async () => {
        const [{ deleted }] = await this.dataSource.query<
          { deleted: number }[]
        >(PURGE_BATCH, [now, ACCESS_KEY_PURGE_BATCH_ROWS]);
        this.metrics.retentionDeletions.inc(
          { kind: 'expired_access_key' },
          deleted,
        );
        return deleted;
      },
      {
        batchRows: ACCESS_KEY_PURGE_BATCH_ROWS,
        maxBatches: ACCESS_KEY_PURGE_MAX_BATCHES,
      },
    );
    this.logger.log(report, 'access key purge run');
    return report;
  }
}
