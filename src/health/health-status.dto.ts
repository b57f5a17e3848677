import { ApiProperty } from '@nestjs/swagger';

export class HealthStatusDto {
  @ApiProperty({ example: 'ok', enum: ['ok'] })
  status: 'ok';

  @ApiProperty({ example: { database: 'up', vault: 'up' }, description: 'State of each dependency checked' })
  checks: Record<string, 'up' | 'down'>;
}
