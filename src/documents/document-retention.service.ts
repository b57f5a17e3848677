import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { InjectRepository } from '@nestjs/typeorm';
import { In, LessThan, LessThanOrEqual, Repository } from 'typeorm';
import { DocumentFiles } from './document-files';
import { StoredDocument } from './document.entity';

/**
 * A file younger than this may belong to a document being created right now (file before row);
 * a row younger than this may have been created after the file inventory was taken.
 */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;

export interface RetentionReport {
  expired: number;
  orphanFiles: number;
  orphanRows: number;
  strayFiles: number;
}

/**
 * docs/documents.md#retention: deletes expired documents (row and file) and cleans orphans. Needs
 * no key: it reads only ids and expiry times. Runs hourly; `run(now)` is public so tests can drive
 * it with a clock.
 */
@Injectable()
export class DocumentRetentionService {
  private readonly logger = new Logger(DocumentRetentionService.name);
  private running = false;

  constructor(
    @InjectRepository(StoredDocument)
    private readonly documents: Repository<StoredDocument>,
    private readonly files: DocumentFiles,
  ) {}

  @Cron(CronExpression.EVERY_HOUR, { name: 'document-retention' })
  async scheduled(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.run(new Date());
    } catch (error) {
      this.logger.error(
        { err: { type: (error as Error)?.name } },
        'document retention run failed',
      );
    } finally {
      this.running = false;
    }
  }

  async run(now: Date): Promise<RetentionReport> {
    const report: RetentionReport = {
      expired: 0,
      orphanFiles: 0,
      orphanRows: 0,
      strayFiles: 0,
    };
    const expired = await this.documents.find({
      where: { expiresAt: LessThanOrEqual(now) },
      select: { id: true },
    });
    for (const { id } of expired) {
      await this.documents.delete({ id });
      await this.files.delete(id);
      report.expired++;
    }

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
    }
    for (const stray of strays) {
      if (stray.ageMs < ORPHAN_GRACE_MS) continue;
      await this.files.deleteStray(stray.name);
      report.strayFiles++;
    }
    // Rows whose file vanished: nothing can be served, so the row goes too. Only rows older than
    // the grace period: a row created after the inventory above has a file it does not list.
    const fileIds = new Set(ids);
    const rows = await this.documents.find({
      where: { createdAt: LessThan(new Date(now.getTime() - ORPHAN_GRACE_MS)) },
      select: { id: true },
    });
    for (const { id } of rows) {
      if (fileIds.has(id)) continue;
      await this.documents.delete({ id });
      report.orphanRows++;
    }
    if (
      report.expired +
        report.orphanFiles +
        report.orphanRows +
        report.strayFiles >
      0
    ) {
      this.logger.log({ ...report }, 'document retention run');
    }
    return report;
  }
}
