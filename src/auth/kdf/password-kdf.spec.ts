import { AppMetrics } from '../../common/metrics/app-metrics';
import { sampleValue } from '../../common/metrics/testing/sample-value';
import { ServiceBusyError } from '../../common/problem/too-many-requests.error';
import type { AppConfig } from '../../config/app-config';
import type { ServerKeys } from '../../config/server-keys';
import { derivePasswordMasterKey } from '@vault-pii/nest-encryption/crypto';
import { PasswordKdf } from './password-kdf';
import { kdfConcurrency } from './threadpool-priority';

jest.mock('@vault-pii/nest-encryption/crypto', () => ({
  derivePasswordMasterKey: jest.fn(),
}));

const derive = jest.mocked(derivePasswordMasterKey);
const PARAMS = { memoryKiB: 19_456, iterations: 2, parallelism: 1 };
const SALT = Buffer.alloc(16);

describe('PasswordKdf: the bounded argon2id queue (KDF_QUEUE_LIMIT, KDF_QUEUE_TIMEOUT_MS)', () => {
  const slots = kdfConcurrency();
  /** argon2id calls in flight, each finished by hand. */
  let finish: (() => void)[];

  /** The last built instance's log lines, caught rather than printed. */
  let warn: jest.SpyInstance<void, [message: unknown, ...rest: unknown[]]>;
  let log: jest.SpyInstance<void, [message: unknown, ...rest: unknown[]]>;
  /** The last built instance's metrics. */
  let metrics: AppMetrics;
  const build = (kdfQueue: number, kdfQueueTimeoutMs: number) => {
    metrics = new AppMetrics();
    const kdf = new PasswordKdf(
      {} as ServerKeys,
      {
        limits: { kdfQueue, kdfQueueTimeoutMs },
      } as AppConfig,
      metrics,
    );
    warn = jest.spyOn(kdf['logger'], 'warn').mockImplementation();
    log = jest.spyOn(kdf['logger'], 'log').mockImplementation();
    return kdf;
  };
  const check = (kdf: PasswordKdf) =>
    kdf.deriveMasterKey('a password', SALT, PARAMS);

  beforeEach(() => {
    finish = [];
    derive.mockReset();
    derive.mockImplementation(
      () =>
        new Promise<Buffer>((resolve) =>
          finish.push(() => resolve(Buffer.alloc(64))),
        ),
    );
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('answers a call beyond the full queue with 503 service_unavailable naming KDF_QUEUE_LIMIT, Retry-After = the timeout', async () => {
    const kdf = build(1, 2500);
    const admitted = Array.from({ length: slots + 1 }, () => check(kdf));
    const refused = await check(kdf).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ServiceBusyError);
    expect(refused).toMatchObject({
      code: 'service_unavailable',
      retryAfterSeconds: 3,
      extensions: { limit: 'KDF_QUEUE_LIMIT' },
    });
    expect(derive).toHaveBeenCalledTimes(slots);
    while (finish.length) finish.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    while (finish.length) finish.shift()?.();
    await expect(Promise.all(admitted)).resolves.toHaveLength(slots + 1);
    expect(derive).toHaveBeenCalledTimes(slots + 1);
  });

  it('answers a call that waited KDF_QUEUE_TIMEOUT_MS with the same 503 naming KDF_QUEUE_TIMEOUT_MS, and never derives for it', async () => {
    jest.useFakeTimers();
    const kdf = build(64, 1000);
    for (let i = 0; i < slots; i++) void check(kdf);
    const waiting = check(kdf).catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(1000);
    expect(await waiting).toMatchObject({
      code: 'service_unavailable',
      retryAfterSeconds: 1,
      extensions: { limit: 'KDF_QUEUE_TIMEOUT_MS' },
    });
    finish.forEach((done) => done());
    await jest.advanceTimersByTimeAsync(0);
    expect(derive).toHaveBeenCalledTimes(slots);
  });

  it('warns once per busy spell, not once per refused call, and logs when the queue has drained', async () => {
    const kdf = build(0, 1000);
    const fillSlots = (count: number) => {
      for (let i = 0; i < count; i++) void check(kdf);
    };
    fillSlots(slots);
    for (let i = 0; i < 5; i++) await check(kdf).catch(() => undefined);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/KDF_QUEUE_LIMIT/);
    expect(log).not.toHaveBeenCalled();

    finish.splice(0).forEach((done) => done());
    await new Promise((resolve) => setImmediate(resolve));
    fillSlots(slots);
    expect(log).toHaveBeenCalledTimes(1);
    await check(kdf).catch(() => undefined);
    expect(warn).toHaveBeenCalledTimes(2);
    finish.splice(0).forEach((done) => done());
  });

  it('exports its queue: calls waiting and running when scraped, waits and runs timed, refusals counted by reason', async () => {
    const kdf = build(1, 2500);
    const value = (name: string, labels?: Record<string, string>) =>
      sampleValue(metrics.registry, name, labels);
    const calls = Array.from({ length: slots + 1 }, () => check(kdf));
    await check(kdf).catch(() => undefined);
    expect(await value('vault_pii_kdf_calls', { state: 'running' })).toBe(
      slots,
    );
    expect(await value('vault_pii_kdf_calls', { state: 'waiting' })).toBe(1);
    expect(
      await value('vault_pii_kdf_refused_total', { reason: 'queue_full' }),
    ).toBe(1);
    while (finish.length) finish.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    while (finish.length) finish.shift()?.();
    await Promise.all(calls);
    expect(await value('vault_pii_kdf_calls', { state: 'waiting' })).toBe(0);
    expect(await value('vault_pii_kdf_run_seconds_count')).toBe(slots + 1);
    expect(await value('vault_pii_kdf_queue_wait_seconds_count')).toBe(
      slots + 1,
    );
  });
});
