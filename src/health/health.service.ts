import { Injectable, Logger } from '@nestjs/common';
import { HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { DomainError } from '../common/problem/domain-error';
import { HealthStatusDto } from './health-status.dto';

const DATABASE_PING_TIMEOUT_MS = 1_500;

@Injectable()
export class HealthService {
  constructor(
    private readonly checks: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
  ) {}

  private readonly logger = new Logger(HealthService.name);

  live(): HealthStatusDto {
    return { status: 'ok', checks: {} };
  }

  /** 200 when every dependency answers; otherwise 503 problem+json naming which is down. */
  async ready(): Promise<HealthStatusDto> {
    try {
      const result = await this.checks.check([
        () => this.database.pingCheck('database', { timeout: DATABASE_PING_TIMEOUT_MS }),
      ]);
      return { status: 'ok', checks: summarise(result.details) };
    } catch (error) {
      // Terminus throws a 503 whose response holds per-check results (with driver messages we
      // keep out of the response); anything else is a failure of the check itself.
      const details = (error as { response?: { details?: HealthIndicatorResult } }).response?.details;
      const checks = details ? summarise(details) : { database: 'down' as const };
      this.logger.warn({ checks }, 'readiness check failed');
      throw new DomainError('not_ready', 'A dependency of the service is unavailable.', { checks });
    }
  }
}

function summarise(details: HealthIndicatorResult): Record<string, 'up' | 'down'> {
  return Object.fromEntries(
    Object.entries(details).map(([name, detail]) => [name, detail.status === 'up' ? 'up' : 'down']),
  );
}
