/** What a purge run did: rows deleted, statements run. */
export interface PurgeReport {
  deleted: number;
  batches: number;
}

/**
 * Runs `deleteBatch` (one statement deleting at most `batchRows` rows, one short transaction,
 * answering how many it deleted) until a batch deletes fewer than `batchRows`, or `maxBatches`
 * ran: what remains waits for the next run, so a backlog never makes one run unbounded.
 */
export async function purgeInBatches(
  deleteBatch: () => Promise<number>,
  { batchRows, maxBatches }: { batchRows: number; maxBatches: number },
): Promise<PurgeReport> {
  const report: PurgeReport = { deleted: 0, batches: 0 };
  while (report.batches < maxBatches) {
    const deleted = await deleteBatch();
    report.batches++;
    report.deleted += deleted;
    if (deleted < batchRows) break;
  }
  return report;
}

/**
 * One purge batch as SQL: deletes at most `$<limitParameter>` rows of `table` matching
 * `condition` and answers `[{ deleted }]`. `SKIP LOCKED`: instances purging at once take different
 * rows and never wait on each other; a row being updated right now is skipped (left for the next
 * run), and one changed since the statement began is locked and re-checked on its latest version.
 */
export function purgeBatchSql(
  table: string,
  condition: string,
  limitParameter: number,
): string {
  return `
    WITH purged AS (
      DELETE FROM ${table}
       WHERE id IN (
         SELECT id FROM ${table}
          WHERE ${condition}
          LIMIT $${limitParameter}
            FOR UPDATE SKIP LOCKED)
      RETURNING 1)
    SELECT count(*)::int AS deleted FROM purged`;
}
