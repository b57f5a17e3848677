import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { describeStoreError } from './describe-store-error';

export interface FailFastRedisOptions {
  /** `redis://` or `rediss://` URL; it may carry a password, so it is never logged. */
  url: string;
  /**
   * A command without an answer by then fails, and a connection that has received nothing for
   * 90% of that time while commands wait is dropped and re-established. Default 1000 ms.
   */
  commandTimeoutMs?: number;
  /** ioredis `keyPrefix`: prepended to every key of every command on this connection. */
  keyPrefix?: string;
  /** Names the connection in its log lines ("vault store", "rate-limit store"). */
  label: string;
  logger: Logger;
}

export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 1_000;
const MIN_CONNECT_TIMEOUT_MS = 2_000;
/** A Redis back after an outage is in use again within about this long (plus one connect). */
const MAX_RECONNECT_DELAY_MS = 500;

/**
 * An ioredis client that fails fast and heals by itself, for stores that must answer a request
 * in bounded time or not at all:
 * - no offline queue: while disconnected a command rejects at once instead of waiting;
 * - `commandTimeout`: a command Redis accepted but does not answer rejects after the timeout;
 * - `socketTimeout`: a connection silent that long while commands wait is dropped, so the
 *   requests after the first fail at once (not one timeout each) until a reconnect, whose ready
 *   check has the same timeout;
 * - no resending of unanswered commands after a reconnect: their callers have already failed,
 *   and replaying a write (a counter increment, a vault entry) behind their back is wrong;
 * - reconnects in the background forever (capped back-off), logging each outage once.
 */
export function createFailFastRedis(options: FailFastRedisOptions): Redis {
  const commandTimeoutMs =
    options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
  const client = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    // Shorter than the command timeout, so the silent socket is gone by the time the first
    // command fails: a command sent right after would otherwise wait out a timeout of its own.
    socketTimeout: Math.floor(commandTimeoutMs * 0.9),
    connectTimeout: Math.max(2 * commandTimeoutMs, MIN_CONNECT_TIMEOUT_MS),
    retryStrategy: (attempt) =>
      Math.min(50 * 2 ** Math.min(attempt, 6), MAX_RECONNECT_DELAY_MS),
    // How long close() lets a dead socket linger before destroying it (ioredis waits 2 s).
    disconnectTimeout: Math.min(commandTimeoutMs, 500),
  });

  let connectionLost = false;
  // Without an 'error' listener ioredis prints every failed reconnect; log each outage once.
  client.on('error', (error: Error) => {
    if (connectionLost || client.status === 'end') return;
    connectionLost = true;
    options.logger.warn(
      `${options.label}: Redis connection failed (${describeStoreError(error)}); retrying in the background`,
    );
  });
  // A dropped silent connection closes without an 'error' event: count it as an outage too.
  client.on('close', () => {
    if (connectionLost || client.status === 'end') return;
    connectionLost = true;
    options.logger.warn(
      `${options.label}: Redis connection lost; retrying in the background`,
    );
  });
  client.on('ready', () => {
    if (!connectionLost) return;
    connectionLost = false;
    options.logger.log(`${options.label}: Redis connection restored`);
  });
  return client;
}

/** Resolves true once `client` is ready, false if that takes longer than `timeoutMs`. */
export function waitForRedisReady(
  client: Redis,
  timeoutMs: number,
): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    timer.unref();
    client.once('ready', onReady);
  });
}
