import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { InjectRepository } from '@nestjs/typeorm';
import { In, LessThan, LessThanOrEqual, Repository } from 'typeorm';
import { AppMetrics } from '../common/metrics/app-metrics';
import { ScheduledRun } from '../common/jobs/scheduled-run';
import {
  DocumentFiles,
  DocumentsFolderUnavailableError,
} from './document-files';
import { StoredDocument } from './document.entity';

/**
 * A file younger than this may belong to a document being created right now (file before row);
 * a row younger than this may have been created after the file inventory was taken.
 */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;

export interface RetentionReport {
  expired: number;
  orphanFiles: number;
  strayFiles: number;
  /** Rows older than the grace period whose file this instance cannot see: kept, reported. */
  missingFiles: number;
  /** The folder could not be listed: the sweep of orphans was skipped and deleted nothing. */
  sweepSkipped: boolean;
}

/** At most this many ids of rows without a file go into the log line. */
const MISSING_FILE_IDS_LOGGED = 20;

/**
 * docs/documents.md#retention: deletes expired documents (row and file), the only reason a
 * document is ever deleted, and sweeps orphan and stray files. A row whose file it cannot see is
 * never deleted (the volume may be mounted late, or held by another instance): it is reported. A
 * documents folder that cannot be listed stops the sweep: an empty inventory would make every
 * file-less row look orphaned. Needs no key: it reads only ids and expiry times. Runs hourly;
 * `run(now)` is public so tests can drive it with a clock.
 */
@Injectable()
export class DocumentRetentionService {
  private readonly logger = new Logger(DocumentRetentionService.name);
  private readonly runs = new ScheduledRun(
    this.logger,
    'document retention run failed',
  );

  constructor(
    @InjectRepository(StoredDocument)
    private readonly documents: Repository<StoredDocument>,
    private readonly files: DocumentFiles,
    private readonly metrics: AppMetrics,
  ) {}

  @Cron(CronExpression.EVERY_HOUR, { name: 'document-retention' })
  scheduled(): Promise<void> {
    return this.runs.start(() => this.run(new Date()));
  }

  async run(now: Date): Promise<RetentionReport> {
    const report: RetentionReport = {
      expired: 0,
      orphanFiles: 0,
      strayFiles: 0,
      missingFiles: 0,
      sweepSkipped: false,
    };
    const expired = await this.documents.find({
      where: { expiresAt: LessThanOrEqual(now) },
      select: { id: true },
    });
    for (const { id } of expired) {
      await this.documents.delete({ id });
      await this.files.delete(id);
      report.expired++;
      this.metrics.retentionDeletions.inc({ kind: 'expired_document' });
    }
    try {
      await this.sweep(now, report);
    } catch (error) {
      if (!(error instanceof DocumentsFolderUnavailableError)) throw error;
      report.sweepSkipped = true;
      this.logger.error(
        { folder: this.files.directory, code: error.code },
        'documents folder unavailable: orphan sweep skipped, nothing deleted',
      );
    }
    if (report.expired + report.orphanFiles + report.strayFiles > 0) {
      this.logger.log({ ...report }, 'document retention run');
    }
    return report;
  }

  private async sweep(now: Date, report: RetentionReport): Promise<void> {
    const { documents: files, strays } = await this.files.inventory();
    const ids = files.map((file) => file.id);
    const known = new Set(
      ids.length === 0
        ? []
        : (
            await this.documents.find({
              where: { id: In(ids) },
              select: { id: true },
            })
          ).map((row) => row.id),
    );
    for (const { id, ageMs } of files) {
      if (known.has(id) || ageMs < ORPHAN_GRACE_MS) continue;
      // A file whose row is gone (crash between the two deletes, or an aborted create).
      await this.files.delete(id);
      report.orphanFiles++;
      this.metrics.retentionDeletions.inc({ kind: 'orphan_file' });
    }
    for (const stray of strays) {
      if (stray.ageMs < ORPHAN_GRACE_MS) continue;
      await this.files.deleteStray(stray.name);
      report.strayFiles++;
      this.metrics.retentionDeletions.inc({ kind: 'stray_file' });
    }
    // Rows whose file this instance cannot see: kept (only expiry deletes a document), reported.
    // Only rows older than the grace period: a younger one may have been created after the
    // inventory above was taken.
    const fileIds = new Set(ids);
    const rows = await this.documents.find({
      where: { createdAt: LessThan(new Date(now.getTime() - ORPHAN_GRACE_MS)) },
      select: { id: true },
    });
    const missing = rows.map(({ id }) => id).filter((id) => !fileIds.has(id));
    report.missingFiles = missing.length;
    if (missing.length > 0)
      this.logger.warn(
        {
          count: missing.length,
          documentIds: missing.slice(0, MISSING_FILE_IDS_LOGGED),
        },
        'documents whose file is missing here: kept, downloads answer document_file_unavailable',
      );
  }
}
