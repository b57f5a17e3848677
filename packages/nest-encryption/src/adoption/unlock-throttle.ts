import { forgetOlderThan } from '../rotation/key-rotation.job';

/**
 * When a keyring event starts an owner's adoption pass: a login (`'opened'`) always; an unlock of
 * an existing session (`'unlocked'`, every request) at most once per `intervalMs` per owner, counted
 * from the last pass started by either. Covers sessions that outlive a restart (a Redis vault)
 * without a query per request.
 */
export class UnlockThrottle {
  private readonly lastStart = new Map<string, number>();

  constructor(private readonly intervalMs: number) {}

  /** Whether this event starts a pass; when it does, it is remembered as the owner's last. */
  allows(
    ownerId: string,
    occasion: 'opened' | 'unlocked',
    now: number,
  ): boolean {
    const last = this.lastStart.get(ownerId);
    if (
      occasion === 'unlocked' &&
      last !== undefined &&
      now - last < this.intervalMs
    )
      return false;
    forgetOlderThan(this.lastStart, this.intervalMs, now);
    this.lastStart.set(ownerId, now);
    return true;
  }

  /** Owners remembered (bounded: old entries go once there are many). */
  get size(): number {
    return this.lastStart.size;
  }
}
