import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { closeRedisConnection } from './close-redis';
import { createFailFastRedis, waitForRedisReady } from './fail-fast-redis';
import { FakeRedisServer } from '../testing/fake-redis-server';

describe('createFailFastRedis', () => {
  const TIMEOUT_MS = 300;
  let server: FakeRedisServer;
  let client: Redis;
  let logger: {
    warn: jest.Mock<void, unknown[]>;
    log: jest.Mock<void, unknown[]>;
  };

  beforeEach(async () => {
    server = new FakeRedisServer();
    const url = await server.start();
    logger = {
      warn: jest.fn<void, unknown[]>(),
      log: jest.fn<void, unknown[]>(),
    };
    client = createFailFastRedis({
      url,
      commandTimeoutMs: TIMEOUT_MS,
      label: 'test store',
      logger: logger as unknown as Logger,
    });
    expect(await waitForRedisReady(client, 2_000)).toBe(true);
  });

  afterEach(async () => {
    await closeRedisConnection(client);
    await server.stop();
  });

  async function elapsed(
    operation: Promise<unknown>,
  ): Promise<{ ms: number; error: unknown }> {
    const started = Date.now();
    const error = await operation.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    return { ms: Date.now() - started, error };
  }

  it('fails a command Redis accepted but never answers within the timeout, then fails the next at once', async () => {
    await expect(client.ping()).resolves.toBe('PONG');
    server.answering = false;

    const first = await elapsed(client.ping());
    expect(first.error).toBeInstanceOf(Error);
    expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(first.ms).toBeLessThan(TIMEOUT_MS + 500);

    // The silent connection was dropped: no second timeout to wait out.
    const second = await elapsed(client.ping());
    expect(second.error).toBeInstanceOf(Error);
    expect(second.ms).toBeLessThan(50);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0][0]).toMatch(
      /^test store: Redis connection (lost|failed)/,
    );
  });

  it('reconnects by itself once Redis answers again, without replaying the commands that failed', async () => {
    server.answering = false;
    await elapsed(client.ping());
    await elapsed(client.ping());

    server.answering = true;
    expect(await waitForRedisReady(client, 5_000)).toBe(true);
    await expect(client.ping()).resolves.toBe('PONG');
    expect(logger.log).toHaveBeenCalledWith(
      'test store: Redis connection restored',
    );

    // The new connection carried the handshake and the one new PING, not the failed ones again.
    const lastConnection = server.received.at(-1) as string[];
    expect(lastConnection.filter((name) => name === 'ping')).toEqual(['ping']);
  });

  it('rejects at once while nothing listens, and logs the outage once however many reconnects fail', async () => {
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < 5; i++) {
      const attempt = await elapsed(client.ping());
      expect(attempt.error).toBeInstanceOf(Error);
      expect(attempt.ms).toBeLessThan(50);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(logger.warn).toHaveBeenCalledTimes(1);
    server = new FakeRedisServer(); // afterEach stops a server
    await server.start();
  });
});
