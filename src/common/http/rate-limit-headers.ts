import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, NestMiddleware } from '@nestjs/common';

/** The header fields of draft-ietf-httpapi-ratelimit-headers (revision 11, May 2026). */
export const RATE_LIMIT_POLICY_HEADER = 'RateLimit-Policy';
export const RATE_LIMIT_HEADER = 'RateLimit';

/**
 * One quota policy as `RateLimit-Policy` announces it: `"<name>";q=<quota>;w=<window seconds>`.
 * The name is the setting that bounds it (`AUTH_RATE_LIMIT`, …), as a 429's `limit` member names it.
 */
export interface RateLimitPolicy {
  readonly name: string;
  readonly quota: number;
  readonly windowSeconds: number;
}

/** What is left of a policy's quota for this client: `"<name>";r=<remaining>;t=<seconds>`. */
export interface RateLimitState {
  readonly remaining: number;
  /** Seconds until the quota is whole again (the window ends). */
  readonly resetSeconds: number;
}

/** A policy name is a Structured Fields string; ours are setting names, never client input. */
const POLICY_NAME = /^[A-Z][A-Z0-9_]*$/;

const reported = new WeakMap<
  ServerResponse,
  Map<string, { policy: RateLimitPolicy; state: RateLimitState }>
>();
const currentResponse = new AsyncLocalStorage<ServerResponse>();

/**
 * Sets `RateLimit-Policy` and `RateLimit` on `response` for `policy`, next to any other policy
 * reported on it already (a login answers for the per-address budget and, when it refuses, for
 * the account's failures). A later report of the same policy replaces the earlier one, so the
 * problem filter's `r=0` on a 429 wins over the count a guard reported before. Once headers are
 * sent (a streamed download) nothing changes.
 */
export function setRateLimitHeaders(
  response: ServerResponse,
  policy: RateLimitPolicy,
  state: RateLimitState,
): void {
  if (!POLICY_NAME.test(policy.name))
    throw new Error(`not a rate-limit policy name: ${policy.name}`);
  if (response.headersSent) return;
  let policies = reported.get(response);
  if (!policies) {
    policies = new Map();
    reported.set(response, policies);
  }
  policies.set(policy.name, { policy, state });
  const entries = [...policies.values()];
  response.setHeader(
    RATE_LIMIT_POLICY_HEADER,
    entries
      .map(
        ({ policy: p }) =>
          `"${p.name}";q=${whole(p.quota)};w=${whole(p.windowSeconds)}`,
      )
      .join(', '),
  );
  response.setHeader(
    RATE_LIMIT_HEADER,
    entries
      .map(
        ({ policy: p, state: s }) =>
          `"${p.name}";r=${whole(s.remaining)};t=${whole(s.resetSeconds)}`,
      )
      .join(', '),
  );
}

/**
 * `setRateLimitHeaders` on the response of the request being served, for a limiter that runs in
 * a service and never sees the response (`DocumentCreationLimit`). Outside a request (a job, a
 * unit test) it does nothing.
 */
export function reportRateLimit(
  policy: RateLimitPolicy,
  state: RateLimitState,
): void {
  const response = currentResponse.getStore();
  if (response) setRateLimitHeaders(response, policy, state);
}

/** Makes the request's response the one `reportRateLimit` writes to, for the rest of the request. */
@Injectable()
export class RateLimitHeadersMiddleware implements NestMiddleware<
  IncomingMessage,
  ServerResponse
> {
  use(
    _request: IncomingMessage,
    response: ServerResponse,
    next: (error?: unknown) => void,
  ): void {
    currentResponse.run(response, next);
  }
}

/** Structured Fields integers: whole, not negative (a clock skew never makes `t` negative). */
function whole(value: number): number {
  return Math.max(0, Math.ceil(value));
}
