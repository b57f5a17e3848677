import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import {
  AuthenticatedSession,
  CurrentSession,
} from '../../../src/common/auth/authenticated-session';
import { Public } from '../../../src/common/auth/public.decorator';
import { NoStore } from '../../../src/common/http/no-store.decorator';
import { TokenService } from '../../../src/auth/tokens/token.service';
import { ProfileDto } from '../../../src/profile/dto/profile.dto';
import { toProfileDto } from '../../../src/profile/profile.service';
import { PlainProfile } from './plain-profile.entity';
import {
  PlaintextTwinAuthGuard,
  PlaintextTwinJwtStrategy,
} from './plaintext-twin-auth';

/** BENCH ONLY: `ProfileService.get` over the plaintext twin (same query, same allow-list). */
@Injectable()
export class PlainProfileService {
  constructor(
    @InjectRepository(PlainProfile)
    private readonly profiles: Repository<PlainProfile>,
  ) {}

  async get(userId: string): Promise<ProfileDto> {
    return toProfileDto(await this.profiles.findOneBy({ userId }));
  }
}

/**
 * BENCH ONLY: `GET /v1/bench-plain/me/profile`, the twin of `GET /v1/me/profile`: the same
 * middleware, interceptors, pipes, serialization and headers, and the same access-token
 * verification — but, like a plaintext app, no vault entry to unlock (see `plaintext-twin-auth`).
 * `@Public()` only lets it past the global guard, whose strategy would unlock the vault.
 */
@Public()
@UseGuards(PlaintextTwinAuthGuard)
@Controller('bench-plain/me/profile')
export class PlainProfileController {
  constructor(private readonly profiles: PlainProfileService) {}

  @Get()
  @NoStore()
  get(@CurrentSession() session: AuthenticatedSession): Promise<ProfileDto> {
    return this.profiles.get(session.userId);
  }
}

@Module({
  imports: [TypeOrmModule.forFeature([PlainProfile])],
  controllers: [PlainProfileController],
  providers: [PlainProfileService, TokenService, PlaintextTwinJwtStrategy],
})
export class PlainProfileModule {}
