import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditEvent } from './audit-event.entity';
import { IntegrityFailureRecorder } from '../common/problem/integrity-failure-recorder';
import { AuditLogService } from './audit-log.service';

@Global()
@Module({
  imports: [TypeOrmModule.forFeature([AuditEvent])],
  providers: [
    AuditLogService,
    {
      provide: IntegrityFailureRecorder,
      inject: [AuditLogService],
      useFactory: (audit: AuditLogService): IntegrityFailureRecorder => ({
        recordIntegrityFailure: (userId, request) =>
          audit.record('data.integrity_failure', 'failure', userId, request),
      }),
    },
  ],
  exports: [AuditLogService, IntegrityFailureRecorder],
})
export class AuditModule {}
