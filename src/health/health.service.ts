import { Injectable, OnModuleInit } from '@nestjs/common';
import {
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { AppMetrics } from '../common/metrics/app-metrics';
import { DomainError } from '../common/problem/domain-error';
import { DocumentFiles } from '../documents/document-files';
import { SessionKeyVault } from '@vault-pii/nest-encryption';
import { HealthStatusDto } from './health-status.dto';
import { KeyMemoryCheck } from './key-memory.check';

const DATABASE_PING_TIMEOUT_MS = 1_500;

@Injectable()
export class HealthService implements OnModuleInit {
  constructor(
    private readonly checks: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly vault: SessionKeyVault,
    private readonly keyMemory: KeyMemoryCheck,
    private readonly documentFiles: DocumentFiles,
    private readonly metrics: AppMetrics,
  ) {}

  live(): HealthStatusDto {
    return { status: 'ok', checks: {} };
  }

  /** The readiness checks feed `vault_pii_dependency_up` too, run at each scrape. */
  onModuleInit(): void {
    this.metrics.checkDependenciesWith(async () => {
      const checks = await this.dependencies();
      return {
        database: checks.database === 'up',
        vault_store: checks.vault === 'up',
        documents: checks.documents === 'up',
      };
    });
  }

  /**
   * 200 when every dependency answers (PostgreSQL, the vault store, the documents folder with its free space); otherwise 503 problem+json naming which is down. Either
   * way it says whether key memory is locked (a security warning, not a reason to stop serving).
   */
  async ready(): Promise<HealthStatusDto> {
    const checks = await this.dependencies();
    if (Object.values(checks).every((state) => state === 'up'))
      return { status: 'ok', checks, keyMemory: this.keyMemory.state() };
    // The problem filter logs the summary.
    throw new DomainError(
      'not_ready',
      'A dependency of the service is unavailable.',
      { checks, keyMemory: this.keyMemory.state() },
    );
  }

  /** Each dependency up or down, checked now. Never throws. */
  async dependencies(): Promise<DependencyChecks> {
    try {
      const result = await this.checks.check([
        () =>
          this.database.pingCheck('database', {
            timeout: DATABASE_PING_TIMEOUT_MS,
          }),
        async () => {
          const vault = this.indicators.check('vault');
          return (await this.vault.isAvailable()) ? vault.up() : vault.down();
        },
        async () => {
          // Missing (a volume not mounted), not writable (read-only) or under
          // DOCUMENTS_MIN_FREE_SPACE: documents cannot be served or made.
          const documents = this.indicators.check('documents');
          return (await this.documentFiles.isAvailable())
            ? documents.up()
            : documents.down();
        },
      ]);
      return summarise(result.details);
    } catch (error) {
      // Terminus throws a 503 whose response holds per-check results (with driver messages we
      // keep out of the response and the logs); anything else is a failure of the check itself.
      const details = (
        error as { response?: { details?: HealthIndicatorResult } }
      ).response?.details;
      return details
        ? summarise(details)
        : { database: 'down', vault: 'down', documents: 'down' };
    }
  }
}

type DependencyChecks = Record<
  'database' | 'vault' | 'documents',
  'up' | 'down'
>;

function summarise(details: HealthIndicatorResult): DependencyChecks {
  return Object.fromEntries(
    Object.entries(details).map(([name, detail]) => [
      name,
      detail.status === 'up' ? 'up' : 'down',
    ]),
  ) as DependencyChecks;
}
