import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';

/** How often a dependency reported down is probed until it answers again. */
export const OUTAGE_PROBE_INTERVAL_MS = 1000;

interface Outage {
  since: number;
  refused: number;
  timer?: NodeJS.Timeout;
}

/**
 * One log line when a dependency (the database) goes down and one when it is back, however many
 * requests fail in between: the requests themselves answer 503 without a log line each. "Back" is
 * found by a probe the dependency's module registers (e.g. `SELECT 1`), run every
 * `OUTAGE_PROBE_INTERVAL_MS` while the outage lasts, so the app recovers without a restart and
 * says when.
 */
@Injectable()
export class DependencyOutages implements OnApplicationShutdown {
  private readonly logger = new Logger('DependencyOutages');
  private readonly probes = new Map<string, () => Promise<unknown>>();
  private readonly outages = new Map<string, Outage>();
  private stopped = false;

  registerProbe(dependency: string, probe: () => Promise<unknown>): void {
    this.probes.set(dependency, probe);
  }

  isDown(dependency: string): boolean {
    return this.outages.has(dependency);
  }

  /** A request failed because `dependency` is unreachable; `reason` is an error type or code only. */
  reportDown(dependency: string, reason: string): void {
    const outage = this.outages.get(dependency);
    if (outage) {
      outage.refused++;
      return;
    }
    this.logger.error({ dependency, reason }, `${dependency} unavailable`);
    const started: Outage = { since: Date.now(), refused: 1 };
    this.outages.set(dependency, started);
    this.scheduleProbe(dependency, started);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    for (const outage of this.outages.values()) clearTimeout(outage.timer);
  }

  private scheduleProbe(dependency: string, outage: Outage): void {
    const probe = this.probes.get(dependency);
    if (!probe || this.stopped) return;
    outage.timer = setTimeout(() => {
      probe().then(
        () => this.reportBack(dependency, outage),
        () => this.scheduleProbe(dependency, outage),
      );
    }, OUTAGE_PROBE_INTERVAL_MS);
    // A probe alone never keeps the process alive.
    outage.timer.unref();
  }

  private reportBack(dependency: string, outage: Outage): void {
    if (this.outages.get(dependency) !== outage) return;
    this.outages.delete(dependency);
    this.logger.log(
      {
        dependency,
        downForMs: Date.now() - outage.since,
        refusedRequests: outage.refused,
      },
      `${dependency} available again`,
    );
  }
}
