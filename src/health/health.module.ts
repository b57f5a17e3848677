import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DocumentsModule } from '../documents/documents.module';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';
import { KeyMemoryCheck } from './key-memory.check';

@Module({
  // Terminus's own logger would print driver error messages; HealthService logs a summary.
  imports: [TerminusModule.forRoot({ logger: false }), DocumentsModule],
  controllers: [HealthController],
  providers: [HealthService, KeyMemoryCheck],
})
export class HealthModule {}
