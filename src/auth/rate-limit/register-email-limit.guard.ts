import {
  applyDecorators,
  CanActivate,
  ExecutionContext,
  Injectable,
  UseGuards,
} from '@nestjs/common';
import type { Request } from 'express';
import { ApiRateLimitPolicies } from '../../common/openapi/rate-limit-headers';
import {
  AUTH_RATE_LIMIT_POLICY,
  AuthRateLimitGuard,
} from './auth-rate-limit.guard';
import { RegistrationAttemptsService } from './registration-attempts.service';

/**
 * Counts a register request against its email's budget (`RegistrationAttemptsService`). A guard,
 * so that it runs before validation: a body refused for a weak password (400) counts too. A body
 * without a string `email` is not counted; validation refuses it and nothing is registered.
 */
@Injectable()
export class RegisterEmailLimitGuard implements CanActivate {
  constructor(private readonly registrations: RegistrationAttemptsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const body: unknown = context.switchToHttp().getRequest<Request>().body;
    const email =
      typeof body === 'object' && body !== null
        ? (body as { email?: unknown }).email
        : undefined;
    if (typeof email === 'string') await this.registrations.admit(email);
    return true;
  }
}

/**
 * `POST /v1/auth/register`'s limits, in this order: the caller's per-address auth budget
 * (`AuthRateLimited`), then the email's register budget (docs/security.md#rate-limits).
 */
export const RegistrationRateLimited = (): MethodDecorator =>
  applyDecorators(
    UseGuards(AuthRateLimitGuard, RegisterEmailLimitGuard),
    // The per-email limit is reported only on its own 429 (docs/security.md#rate-limits).
    ApiRateLimitPolicies(AUTH_RATE_LIMIT_POLICY),
  );
