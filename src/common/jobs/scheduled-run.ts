import type { LoggerService } from '@nestjs/common';

/**
 * The runs of one scheduled job (`@Cron`) in this process: a run still going when the next tick
 * comes is not started again, and a failure is logged (the error's type only: its message may
 * carry values) instead of reaching the scheduler. Other instances run their own: a job must be
 * safe to run on several at once.
 */
export class ScheduledRun {
  private running = false;

  constructor(
    private readonly logger: Pick<LoggerService, 'error'>,
    private readonly failureMessage: string,
  ) {}

  /** Runs `job` unless a run is still going; resolves when it ends, never rejects. */
  async start(job: () => Promise<unknown>): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await job();
    } catch (error) {
      this.logger.error(
        { err: { type: (error as Error)?.name } },
        this.failureMessage,
      );
    } finally {
      this.running = false;
    }
  }
}
