import { Injectable } from '@nestjs/common';
import {
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { DomainError } from '../common/problem/domain-error';
import { DocumentFiles } from '../documents/document-files';
import { SessionKeyVault } from '../key-vault/session-key-vault';
import { HealthStatusDto } from './health-status.dto';
import { KeyMemoryCheck } from './key-memory.check';

const DATABASE_PING_TIMEOUT_MS = 1_500;

@Injectable()
export class HealthService {
  constructor(
    private readonly checks: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly vault: SessionKeyVault,
    private readonly keyMemory: KeyMemoryCheck,
    private readonly documentFiles: DocumentFiles,
  ) {}

  live(): HealthStatusDto {
    return { status: 'ok', checks: {} };
  }

  /**
   * 200 when every dependency answers (PostgreSQL, the vault store, the documents folder with its free space); otherwise 503 problem+json naming which is down. Either
   * way it says whether key memory is locked (a security warning, not a reason to stop serving).
   */
  async ready(): Promise<HealthStatusDto> {
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
      return {
        status: 'ok',
        checks: summarise(result.details),
        keyMemory: this.keyMemory.state(),
      };
    } catch (error) {
      // Terminus throws a 503 whose response holds per-check results (with driver messages we
      // keep out of the response and the logs); anything else is a failure of the check itself.
      // The problem filter logs the summary.
      const details = (
        error as { response?: { details?: HealthIndicatorResult } }
      ).response?.details;
      const checks = details
        ? summarise(details)
        : {
            database: 'down' as const,
            vault: 'down' as const,
            documents: 'down' as const,
          };
      throw new DomainError(
        'not_ready',
        'A dependency of the service is unavailable.',
        { checks, keyMemory: this.keyMemory.state() },
      );
    }
  }
}

function summarise(
  details: HealthIndicatorResult,
): Record<string, 'up' | 'down'> {
  return Object.fromEntries(
    Object.entries(details).map(([name, detail]) => [
      name,
      detail.status === 'up' ? 'up' : 'down',
    ]),
  );
}
