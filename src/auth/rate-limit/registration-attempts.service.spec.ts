import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { TooManyRequestsError } from '../../common/problem/too-many-requests.error';
import { FakeClock } from '@vault-pii/nest-encryption/testing';
import { MemoryAttemptCounter } from './attempt-counters';
import { RateLimitKeys } from './rate-limit-keys';
import { RegistrationAttemptsService } from './registration-attempts.service';

const WINDOW_MS = 60 * 60_000;
const EMAIL = 'Grace.Hopper@Example.org';

describe('RegistrationAttemptsService (REGISTER_EMAIL_LIMIT per REGISTER_EMAIL_WINDOW)', () => {
  let clock: FakeClock;
  let service: RegistrationAttemptsService;
  const keys = new RateLimitKeys(randomBytes(32));

  beforeEach(() => {
    clock = new FakeClock();
    service = new RegistrationAttemptsService(
      { maxAttempts: 3, windowMs: WINDOW_MS },
      new MemoryAttemptCounter({ clock: clock.now }),
      keys,
    );
  });
  afterEach(() => jest.restoreAllMocks());

  it('admits maxAttempts attempts per email, then 429 naming REGISTER_EMAIL_LIMIT with the time left in the window', async () => {
    await service.admit(EMAIL);
    clock.advance(10 * 60_000);
    await service.admit(EMAIL.toLowerCase());
    await service.admit(`  ${EMAIL.toUpperCase()} `);
    const refused = await service.admit(EMAIL).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect(refused).toMatchObject({
      code: 'too_many_requests',
      retryAfterSeconds: 50 * 60,
      extensions: { limit: 'REGISTER_EMAIL_LIMIT' },
    });
    expect((refused as Error).message).not.toMatch(/hopper|example/i);
  });

  it('counts each email apart, and starts again once the window has passed', async () => {
    for (let i = 0; i < 3; i++) await service.admit(EMAIL);
    await expect(service.admit(EMAIL)).rejects.toBeInstanceOf(
      TooManyRequestsError,
    );
    await expect(service.admit('other@example.org')).resolves.toBeUndefined();
    clock.advance(WINDOW_MS);
    await expect(service.admit(EMAIL)).resolves.toBeUndefined();
  });

  it('fails open when the store does not answer, logged once without the email', async () => {
    const errors = jest
      .spyOn(Logger.prototype, 'error')
      .mockImplementation(() => undefined);
    const broken = new RegistrationAttemptsService(
      { maxAttempts: 1, windowMs: WINDOW_MS },
      {
        increment: () => Promise.reject(new Error('ECONNREFUSED')),
        decrement: () => Promise.reject(new Error('ECONNREFUSED')),
      },
      keys,
    );
    for (let i = 0; i < 3; i++)
      await expect(broken.admit(EMAIL)).resolves.toBeUndefined();
    expect(errors).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(errors.mock.calls)).toContain('ECONNREFUSED');
    expect(JSON.stringify(errors.mock.calls).toLowerCase()).not.toMatch(
      /hopper|example|register:/,
    );
  });
});
