import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { TooManyRequestsError } from '../../common/problem/too-many-requests.error';
import { FakeClock } from '@vault-pii/nest-encryption/testing';
import { LoginLimiterUnavailableError } from '../auth.errors';
import { AttemptCounter, MemoryAttemptCounter } from './attempt-counters';
import { LoginAttemptsService } from './login-attempts.service';
import { RateLimitKeys } from './rate-limit-keys';

const WINDOW_MS = 15 * 60_000;
const EMAIL = 'Ada.Lovelace@Example.org';

describe('LoginAttemptsService', () => {
  let clock: FakeClock;
  let counter: MemoryAttemptCounter;
  let service: LoginAttemptsService;

  beforeEach(() => {
    clock = new FakeClock();
    counter = new MemoryAttemptCounter({ clock: clock.now });
    service = new LoginAttemptsService(
      { maxFailures: 3, windowMs: WINDOW_MS },
      counter,
      new RateLimitKeys(randomBytes(32)),
    );
  });

  /** An attempt admitted and then failed (nothing is called after a failure). */
  const fail = (email = EMAIL) => service.admit(email);

  it('admits up to maxFailures failed attempts, then refuses with 429 and the time left in the window', async () => {
    await fail();
    clock.advance(60_000);
    await fail();
    await fail();
    const refused = await service.admit(EMAIL).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect((refused as TooManyRequestsError).code).toBe('too_many_requests');
    expect((refused as TooManyRequestsError).retryAfterSeconds).toBe(
      (WINDOW_MS - 60_000) / 1000,
    );
  });

  it('keeps refusing until the window that started with the first failure ends, then admits again', async () => {
    for (let i = 0; i < 3; i++) await fail();
    clock.advance(WINDOW_MS - 1);
    await expect(service.admit(EMAIL)).rejects.toBeInstanceOf(
      TooManyRequestsError,
    );
    clock.advance(1);
    await expect(service.admit(EMAIL)).resolves.toBeDefined();
  });

  it('refused attempts do not extend the lock', async () => {
    for (let i = 0; i < 3; i++) await fail();
    for (let i = 0; i < 5; i++) {
      clock.advance(WINDOW_MS / 10);
      await expect(service.admit(EMAIL)).rejects.toBeInstanceOf(
        TooManyRequestsError,
      );
    }
    clock.advance(WINDOW_MS / 2);
    await expect(service.admit(EMAIL)).resolves.toBeDefined();
  });

  it('does not count a successful attempt', async () => {
    await fail();
    await fail();
    for (let i = 0; i < 5; i++)
      await service.takeBack(await service.admit(EMAIL));
    await fail();
    await expect(service.admit(EMAIL)).rejects.toBeInstanceOf(
      TooManyRequestsError,
    );
  });

  it('counts parallel attempts one by one: no more than maxFailures get through at once', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => service.admit(EMAIL)),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
  });

  it('treats every spelling of one email as one account, and other accounts apart', async () => {
    await fail(' ada.lovelace@example.org');
    await fail('ADA.LOVELACE@EXAMPLE.ORG ');
    await fail(EMAIL);
    await expect(
      service.admit('ada.lovelace@example.org'),
    ).rejects.toBeInstanceOf(TooManyRequestsError);
    await expect(
      service.admit('grace.hopper@example.org'),
    ).resolves.toBeDefined();
  });

  it('keys counters by a keyed hash: no email, and other keys for another server key', async () => {
    const attempt = await service.admit(EMAIL);
    expect(attempt.accountKey).toMatch(/^login:[0-9a-f]{32}$/);
    expect(attempt.accountKey.toLowerCase()).not.toMatch(/lovelace|example/);
    expect(new RateLimitKeys(randomBytes(32)).forAccount(EMAIL)).not.toBe(
      attempt.accountKey,
    );
  });

  describe('when the counter store fails', () => {
    const brokenCounter = (): AttemptCounter => ({
      increment: jest.fn().mockRejectedValue(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), {
          code: 'ECONNREFUSED',
        }),
      ),
      decrement: jest
        .fn()
        .mockRejectedValue(new Error('Connection is closed.')),
    });
    let errors: jest.SpyInstance;

    beforeEach(() => {
      errors = jest
        .spyOn(Logger.prototype, 'error')
        .mockImplementation(() => undefined);
      jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    });
    afterEach(() => jest.restoreAllMocks());

    it('fails closed: admit answers 503 service_unavailable, logged once per outage without the email', async () => {
      const broken = new LoginAttemptsService(
        { maxFailures: 3, windowMs: WINDOW_MS },
        brokenCounter(),
        new RateLimitKeys(randomBytes(32)),
      );
      for (let i = 0; i < 3; i++) {
        const error = await broken.admit(EMAIL).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LoginLimiterUnavailableError);
        expect((error as LoginLimiterUnavailableError).code).toBe(
          'service_unavailable',
        );
      }
      expect(errors).toHaveBeenCalledTimes(1);
      expect(JSON.stringify(errors.mock.calls).toLowerCase()).not.toMatch(
        /lovelace|example|login:/,
      );
      expect(JSON.stringify(errors.mock.calls)).toContain('ECONNREFUSED');
    });

    it('logs again after the store answered in between', async () => {
      const flaky = brokenCounter();
      const good = new MemoryAttemptCounter();
      const flakyService = new LoginAttemptsService(
        { maxFailures: 3, windowMs: WINDOW_MS },
        flaky,
        new RateLimitKeys(randomBytes(32)),
      );
      await expect(flakyService.admit(EMAIL)).rejects.toBeInstanceOf(
        LoginLimiterUnavailableError,
      );
      (flaky.increment as jest.Mock).mockImplementationOnce(
        (key: string, ms: number) => good.increment(key, ms),
      );
      await expect(flakyService.admit(EMAIL)).resolves.toBeDefined();
      await expect(flakyService.admit(EMAIL)).rejects.toBeInstanceOf(
        LoginLimiterUnavailableError,
      );
      expect(errors).toHaveBeenCalledTimes(2);
    });

    it('a failure to take back a successful attempt does not fail the login', async () => {
      const broken = new LoginAttemptsService(
        { maxFailures: 3, windowMs: WINDOW_MS },
        brokenCounter(),
        new RateLimitKeys(randomBytes(32)),
      );
      await expect(
        broken.takeBack({ accountKey: 'login:00' }),
      ).resolves.toBeUndefined();
    });
  });
});
