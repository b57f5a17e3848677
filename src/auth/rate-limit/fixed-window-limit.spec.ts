import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { findFreePort } from '@vault-pii/nest-encryption/testing';
import {
  RATE_LIMIT_HEADER,
  RATE_LIMIT_POLICY_HEADER,
} from '../../common/http/rate-limit-headers';
import {
  ServiceBusyError,
  TooManyRequestsError,
} from '../../common/problem/too-many-requests.error';
import { loadAppConfig } from '../../config/app-config';
import { FixedWindowLimit } from './fixed-window-limit';
import { RateLimitRedis } from './rate-limit-redis';

const POLICY = { name: 'ACCESS_KEY_RATE_LIMIT', quota: 3, windowSeconds: 60 };
const TOO_MANY_DETAIL = 'Too many requests with this key; try again later.';

describe('FixedWindowLimit', () => {
  let dataDir: string;
  const redisStores: RateLimitRedis[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'fixed-window-limit-spec-'));
  });
  afterEach(async () => {
    for (const store of redisStores.splice(0))
      await store.onApplicationShutdown();
    rmSync(dataDir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  /** The app's own counter store from its configuration: in memory without REDIS_URL. */
  function rateLimitRedis(env: Record<string, string> = {}): RateLimitRedis {
    const store = new RateLimitRedis(
      loadAppConfig({
        DATA_DIR: dataDir,
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        ...env,
      }),
    );
    redisStores.push(store);
    return store;
  }

  function limitOver(redis: RateLimitRedis): FixedWindowLimit {
    return new FixedWindowLimit(redis, {
      policy: POLICY,
      subject: 'the spec counter',
      tooManyDetail: TOO_MANY_DETAIL,
      logger: new Logger('FixedWindowLimitSpec'),
    });
  }

  function response(): ServerResponse {
    return new ServerResponse(new IncomingMessage(new Socket()));
  }

  /** `RateLimit`'s remaining count for the policy, and its seconds until the window ends. */
  function budgetOf(res: ServerResponse): { remaining: number; t: number } {
    const header = String(res.getHeader(RATE_LIMIT_HEADER));
    const match = /^"ACCESS_KEY_RATE_LIMIT";r=(\d+);t=(\d+)$/.exec(header);
    if (!match) throw new Error(`unexpected RateLimit: ${header}`);
    return { remaining: Number(match[1]), t: Number(match[2]) };
  }

  describe('in memory (no REDIS_URL)', () => {
    let limit: FixedWindowLimit;

    beforeEach(() => {
      const redis = rateLimitRedis();
      expect(redis.client).toBeUndefined();
      limit = limitOver(redis);
    });

    it('admits up to the quota, then refuses with 429 naming the policy, its max and the wait', async () => {
      for (let i = 0; i < POLICY.quota; i++) await limit.admit('key-a');
      const refused = await limit
        .admit('key-a')
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(TooManyRequestsError);
      const error = refused as TooManyRequestsError;
      expect(error.code).toBe('too_many_requests');
      expect(error.detail).toBe(TOO_MANY_DETAIL);
      expect(error.extensions).toEqual({
        limit: 'ACCESS_KEY_RATE_LIMIT',
        max: POLICY.quota,
      });
      expect(error.policy).toEqual(POLICY);
      // Until the window the first admit opened ends: never more than the window.
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(error.retryAfterSeconds).toBeLessThanOrEqual(POLICY.windowSeconds);
    });

    it('counts each key on its own', async () => {
      for (let i = 0; i < POLICY.quota; i++) await limit.admit('key-a');
      await expect(limit.admit('key-a')).rejects.toBeInstanceOf(
        TooManyRequestsError,
      );
      await expect(limit.admit('key-b')).resolves.toBeInstanceOf(Function);
    });

    it('gives a count back: the next admit fits again, and only one', async () => {
      const giveBacks = [];
      for (let i = 0; i < POLICY.quota; i++)
        giveBacks.push(await limit.admit('key-a'));
      await giveBacks[2]();
      await limit.admit('key-a');
      await expect(limit.admit('key-a')).rejects.toBeInstanceOf(
        TooManyRequestsError,
      );
    });

    it('writes the budget to the given response: RateLimit-Policy and the remaining count after each admit and give-back', async () => {
      const res = response();
      await limit.admit('key-a', res);
      expect(res.getHeader(RATE_LIMIT_POLICY_HEADER)).toBe(
        '"ACCESS_KEY_RATE_LIMIT";q=3;w=60',
      );
      expect(budgetOf(res).remaining).toBe(2);
      expect(budgetOf(res).t).toBeGreaterThanOrEqual(1);
      expect(budgetOf(res).t).toBeLessThanOrEqual(POLICY.windowSeconds);

      const giveBack = await limit.admit('key-a', res);
      expect(budgetOf(res).remaining).toBe(1);
      await giveBack();
      expect(budgetOf(res).remaining).toBe(2);
    });
  });

  it('answers 503 with Retry-After while its Redis does not answer (fails closed), and writes no budget', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const outageLog = jest
      .spyOn(Logger.prototype, 'error')
      .mockImplementation(() => undefined);
    // A real fail-fast client (no offline queue) of a port where no Redis listens.
    const redis = rateLimitRedis({
      REDIS_URL: `redis://127.0.0.1:${await findFreePort()}`,
    });
    expect(redis.client).toBeDefined();
    const limit = limitOver(redis);
    const res = response();

    const refused = await limit
      .admit('key-a', res)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ServiceBusyError);
    expect((refused as ServiceBusyError).code).toBe('service_unavailable');
    expect((refused as ServiceBusyError).retryAfterSeconds).toBe(5);
    expect((refused as ServiceBusyError).detail).toBe(
      'The spec counter is unavailable right now; try again shortly.',
    );
    expect(res.getHeader(RATE_LIMIT_HEADER)).toBeUndefined();
    expect(outageLog).toHaveBeenCalled();
  });
});
