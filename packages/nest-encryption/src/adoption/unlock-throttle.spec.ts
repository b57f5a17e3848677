import { UnlockThrottle } from './unlock-throttle';

describe('UnlockThrottle', () => {
  it('lets every login through, and an unlock only once the interval has passed since the last pass', () => {
    const throttle = new UnlockThrottle(1_000);
    expect(throttle.allows('owner-a', 'unlocked', 10_000)).toBe(true);
    expect(throttle.allows('owner-a', 'unlocked', 10_500)).toBe(false);
    expect(throttle.allows('owner-a', 'unlocked', 10_999)).toBe(false);
    expect(throttle.allows('owner-a', 'opened', 10_999)).toBe(true);
    // The login's pass counts: the interval starts again from it.
    expect(throttle.allows('owner-a', 'unlocked', 11_500)).toBe(false);
    expect(throttle.allows('owner-a', 'unlocked', 11_999)).toBe(true);
  });

  it('throttles each owner on their own', () => {
    const throttle = new UnlockThrottle(1_000);
    expect(throttle.allows('owner-a', 'unlocked', 0)).toBe(true);
    expect(throttle.allows('owner-b', 'unlocked', 1)).toBe(true);
    expect(throttle.allows('owner-a', 'unlocked', 2)).toBe(false);
    expect(throttle.allows('owner-b', 'unlocked', 3)).toBe(false);
  });

  it('the first unlock after a start (a session older than the process) starts a pass', () => {
    expect(new UnlockThrottle(60_000).allows('owner-a', 'unlocked', 5)).toBe(
      true,
    );
  });

  it('with an interval of 0, every unlock starts a pass', () => {
    const throttle = new UnlockThrottle(0);
    expect(throttle.allows('owner-a', 'unlocked', 0)).toBe(true);
    expect(throttle.allows('owner-a', 'unlocked', 0)).toBe(true);
  });

  it('forgets owners whose interval is over once many are remembered', () => {
    const throttle = new UnlockThrottle(1_000);
    for (let i = 0; i < 100; i++) throttle.allows(`owner-${i}`, 'opened', i);
    expect(throttle.size).toBe(100);
    throttle.allows('late-owner', 'opened', 5_000);
    expect(throttle.size).toBe(1);
  });
});
