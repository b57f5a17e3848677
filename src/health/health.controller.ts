import { Controller, Get, HttpCode, VERSION_NEUTRAL } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Public } from '../common/auth/public.decorator';
import { PROBLEM_CONTENT_TYPE } from '../common/problem/problem-details';
import { HealthService } from './health.service';
import { HealthStatusDto } from './health-status.dto';

@ApiTags('health')
@Public()
@Controller({ path: 'health', version: VERSION_NEUTRAL })
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('live')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'checkLiveness',
    summary: 'Liveness: the process is up and serving HTTP',
    description:
      'Answers 200 while the process serves HTTP, whatever its dependencies do: restart the instance when it stops answering.',
  })
  @ApiOkResponse({ type: HealthStatusDto, description: 'The process is up' })
  live(): HealthStatusDto {
    return this.health.live();
  }

  @Get('ready')
  @ApiOperation({
    operationId: 'checkReadiness',
    summary:
      'Readiness: the database and the session key store answer, the documents folder is writable with room to spare',
    description:
      'Checks each dependency; send traffic to the instance only while this answers 200. `keyMemory` says whether key memory is locked against swapping (it does not affect readiness).',
  })
  @ApiOkResponse({
    type: HealthStatusDto,
    description: 'Every dependency answers: the instance is ready',
  })
  @ApiServiceUnavailableResponse({
    description: 'A dependency is down; `checks` says which',
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: { $ref: '#/components/schemas/ProblemDetails' },
      },
    },
  })
  ready(): Promise<HealthStatusDto> {
    return this.health.ready();
  }
}
