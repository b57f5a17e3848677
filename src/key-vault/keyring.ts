import { zeroBuffer } from '../crypto/secure-memory';

/**
 * One user's unwrapped data keys for the span of a request (or a job): every version they hold,
 * and which one encrypts new data. Zero it when done; after `zero()` it holds nothing.
 */
export class Keyring {
  private readonly keys: Map<number, Buffer>;
  private readonly derived = new Map<string, Buffer>();
  private zeroed = false;

  constructor(
    readonly userId: string,
    keys: ReadonlyMap<number, Buffer>,
    readonly activeVersion: number,
  ) {
    if (!keys.has(activeVersion)) throw new Error(`keyring for user has no key for its active version ${activeVersion}`);
    this.keys = new Map(keys);
  }

  get versions(): number[] {
    return [...this.keys.keys()];
  }

  /** The key of `version`, or undefined when this keyring does not hold it. */
  key(version: number): Buffer | undefined {
    this.assertLive();
    return this.keys.get(version);
  }

  /** The key that encrypts new data. */
  activeKey(): Buffer {
    this.assertLive();
    return this.keys.get(this.activeVersion) as Buffer;
  }

  /**
   * A key derived from one of this keyring's keys, computed once per keyring and zeroed with it
   * (e.g. a per-user blind-index key).
   */
  derivedKey(version: number, purpose: string, derive: (dataKey: Buffer) => Buffer): Buffer | undefined {
    const dataKey = this.key(version);
    if (!dataKey) return undefined;
    const cacheKey = `${version}\u0000${purpose}`;
    let derived = this.derived.get(cacheKey);
    if (!derived) {
      derived = derive(dataKey);
      this.derived.set(cacheKey, derived);
    }
    return derived;
  }

  get isZeroed(): boolean {
    return this.zeroed;
  }

  zero(): void {
    if (this.zeroed) return;
    this.zeroed = true;
    zeroBuffer(...this.keys.values(), ...this.derived.values());
    this.keys.clear();
    this.derived.clear();
  }

  private assertLive(): void {
    if (this.zeroed) throw new Error('keyring used after it was zeroed');
  }
}
