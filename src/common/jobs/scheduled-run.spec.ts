import { ScheduledRun } from './scheduled-run';

describe('ScheduledRun', () => {
  const logger = () => ({ error: jest.fn() });

  it('does not start a run while the previous one is going, and starts the next after it', async () => {
    const runs = new ScheduledRun(logger(), 'failed');
    let release: () => void = () => undefined;
    const job = jest.fn(
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    const first = runs.start(job);
    await runs.start(job);
    expect(job).toHaveBeenCalledTimes(1);
    release();
    await first;
    const second = runs.start(job);
    release();
    await second;
    expect(job).toHaveBeenCalledTimes(2);
  });

  it('logs a failure by its error type only, and runs again next time', async () => {
    const log = logger();
    const runs = new ScheduledRun(log, 'purge failed');
    await expect(
      runs.start(() =>
        Promise.reject(new TypeError('secret value in the message')),
      ),
    ).resolves.toBeUndefined();
    expect(log.error).toHaveBeenCalledWith(
      { err: { type: 'TypeError' } },
      'purge failed',
    );
    const job = jest.fn(() => Promise.resolve());
    await runs.start(job);
    expect(job).toHaveBeenCalledTimes(1);
  });
});
