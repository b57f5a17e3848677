import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';

@ApiSchema({ name: 'HealthStatus' })
export class HealthStatusDto {
  @ApiProperty({ example: 'ok', enum: ['ok'] })
  status: 'ok';

  @ApiProperty({
    example: { database: 'up', vault: 'up', documents: 'up' },
    description: 'State of each dependency checked',
  })
  checks: Record<string, 'up' | 'down'>;

  @ApiPropertyOptional({
    enum: ['locked', 'unlocked'],
    example: 'locked',
    description:
      'Readiness only: whether the memory holding keys is locked against swapping (mlock). `unlocked` means RLIMIT_MEMLOCK is too low or CAP_IPC_LOCK is missing; keys are still kept out of core dumps. See docs/operations.md.',
  })
  keyMemory?: 'locked' | 'unlocked';
}
