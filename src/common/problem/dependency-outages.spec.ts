import { Logger } from '@nestjs/common';
import {
  DependencyOutages,
  OUTAGE_PROBE_INTERVAL_MS,
} from './dependency-outages';

describe('DependencyOutages', () => {
  let outages: DependencyOutages;
  let logged: string[];

  beforeEach(() => {
    jest.useFakeTimers();
    logged = [];
    jest
      .spyOn(Logger.prototype, 'error')
      .mockImplementation((_fields: unknown, message?: unknown) => {
        logged.push(String(message));
      });
    jest
      .spyOn(Logger.prototype, 'log')
      .mockImplementation((_fields: unknown, message?: unknown) => {
        logged.push(String(message));
      });
    outages = new DependencyOutages();
  });

  afterEach(() => {
    outages.onApplicationShutdown();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('logs one line when a dependency goes down and one when its probe answers again', async () => {
    let up = false;
    outages.registerProbe('database', () =>
      up ? Promise.resolve() : Promise.reject(new Error('down')),
    );
    for (let i = 0; i < 50; i++) outages.reportDown('database', 'ECONNREFUSED');
    expect(logged).toEqual(['database unavailable']);
    expect(outages.isDown('database')).toBe(true);

    await jest.advanceTimersByTimeAsync(5 * OUTAGE_PROBE_INTERVAL_MS);
    expect(logged).toEqual(['database unavailable']);

    up = true;
    await jest.advanceTimersByTimeAsync(OUTAGE_PROBE_INTERVAL_MS);
    expect(logged).toEqual([
      'database unavailable',
      'database available again',
    ]);
    expect(outages.isDown('database')).toBe(false);

    outages.reportDown('database', 'ECONNRESET');
    expect(logged).toHaveLength(3);
  });

  it('stops probing at shutdown', async () => {
    const probe = jest.fn(() => Promise.reject(new Error('down')));
    outages.registerProbe('database', probe);
    outages.reportDown('database', 'ECONNREFUSED');
    outages.onApplicationShutdown();
    await jest.advanceTimersByTimeAsync(5 * OUTAGE_PROBE_INTERVAL_MS);
    expect(probe).not.toHaveBeenCalled();
  });
});
