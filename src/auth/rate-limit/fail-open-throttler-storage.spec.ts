import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { FailOpenThrottlerStorage } from './fail-open-throttler-storage';

describe('FailOpenThrottlerStorage', () => {
  let errors: jest.SpyInstance<void, unknown[]>;
  beforeEach(() => {
    errors = jest
      .spyOn(Logger.prototype, 'error')
      .mockImplementation(() => undefined);
  });
  afterEach(() => errors.mockRestore());

  it('passes the store’s answer through', async () => {
    const record = {
      totalHits: 7,
      timeToExpire: 30,
      isBlocked: true,
      timeToBlockExpire: 30,
    };
    const storage = new FailOpenThrottlerStorage({
      increment: jest.fn().mockResolvedValue(record),
    });
    await expect(
      storage.increment('k', 60_000, 5, 60_000, 'auth-address'),
    ).resolves.toBe(record);
  });

  it('lets requests through when the store fails, logging the outage once', async () => {
    const store: ThrottlerStorage = {
      increment: jest
        .fn()
        .mockRejectedValue(new Error('Connection is closed.')),
    };
    const storage = new FailOpenThrottlerStorage(store);
    for (let i = 0; i < 3; i++) {
      await expect(
        storage.increment('k', 60_000, 5, 60_000, 'auth-address'),
      ).resolves.toMatchObject({ isBlocked: false });
    }
    expect(errors).toHaveBeenCalledTimes(1);
    expect(String(errors.mock.calls[0][0])).toContain('not limiting');
  });
});
