import { ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';
import { TooManyRequestsError } from '../../common/problem/too-many-requests.error';

/**
 * `@nestjs/throttler`'s guard with our error: a `TooManyRequestsError`, so the 429 is
 * problem+json with `Retry-After` like every other limit. Runs after the global JWT guard.
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    return Promise.reject(
      new TooManyRequestsError(
        detail.timeToBlockExpire,
        'Too many requests to the auth routes from this address; try again later.',
      ),
    );
  }
}

/** Counts the route against the caller's per-address auth budget (docs/security.md#rate-limits). */
export const AuthRateLimited = (): MethodDecorator & ClassDecorator =>
  UseGuards(AuthRateLimitGuard);
