import {
  applyDecorators,
  ExecutionContext,
  Injectable,
  UseGuards,
} from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';
import type { ThrottlerRequest } from '@nestjs/throttler';
import type { Response } from 'express';
import {
  RateLimitPolicy,
  setRateLimitHeaders,
} from '../../common/http/rate-limit-headers';
import { ApiRateLimitPolicies } from '../../common/openapi/rate-limit-headers';
import { TooManyRequestsError } from '../../common/problem/too-many-requests.error';

/** The setting that bounds this limit, which names its policy in `RateLimit-Policy`. */
export const AUTH_RATE_LIMIT_POLICY = 'AUTH_RATE_LIMIT';

function authRateLimitPolicy(limit: number, ttlMs: number): RateLimitPolicy {
  return {
    name: AUTH_RATE_LIMIT_POLICY,
    quota: limit,
    windowSeconds: ttlMs / 1000,
  };
}

/**
 * `@nestjs/throttler`'s guard with our error and our headers: a `TooManyRequestsError`, so the
 * 429 is problem+json with `Retry-After` like every other limit, and on every response
 * `RateLimit-Policy`/`RateLimit` for the address's budget (draft-ietf-httpapi-ratelimit-headers),
 * read from the store's answer, so with Redis they are the numbers every instance shares. Runs
 * after the global JWT guard.
 *
 * `handleRequest` is the throttler's documented extension point; ours drops what we do not use
 * (user-agent exemptions, its `X-RateLimit-*` and `Retry-After-<name>` headers).
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  protected override async handleRequest({
    context,
    limit,
    ttl,
    throttler,
    blockDuration,
    getTracker,
    generateKey,
  }: ThrottlerRequest): Promise<boolean> {
    const { req, res } = this.getRequestResponse(context);
    const name = throttler.name ?? 'default';
    const tracker = await getTracker(req, context);
    const key = generateKey(context, tracker, name);
    const record = await this.storageService.increment(
      key,
      ttl,
      limit,
      blockDuration,
      name,
    );
    if (record.isBlocked) {
      await this.throwThrottlingException(context, {
        ...record,
        limit,
        ttl,
        key,
        tracker,
      });
    }
    // No hit counted means the store did not answer (`FailOpenThrottlerStorage`): nothing is
    // known about the budget, so nothing is claimed.
    if (record.totalHits > 0)
      setRateLimitHeaders(res as Response, authRateLimitPolicy(limit, ttl), {
        remaining: limit - record.totalHits,
        resetSeconds: record.timeToExpire,
      });
    return true;
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    return Promise.reject(
      new TooManyRequestsError(
        detail.timeToBlockExpire,
        'Too many requests to the auth routes from this address; try again later.',
        { limit: AUTH_RATE_LIMIT_POLICY },
        authRateLimitPolicy(detail.limit, detail.ttl),
      ),
    );
  }
}

/**
 * Counts the route against the caller's per-address auth budget (docs/security.md#rate-limits),
 * and documents its rate-limit headers in the OpenAPI document.
 */
export const AuthRateLimited = (): MethodDecorator =>
  applyDecorators(
    UseGuards(AuthRateLimitGuard),
    ApiRateLimitPolicies(AUTH_RATE_LIMIT_POLICY),
  );
