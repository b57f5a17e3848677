import { secureCopy, zeroBuffer } from '../crypto';

/**
 * One user's unwrapped data keys for the span of a request (or a job): every version they hold,
 * and which one encrypts new data. It owns the key buffers it is given (in locked memory:
 * `secureAlloc`, `unwrapDataKey`, `openSecret`); zero it when done, which wipes and releases them.
 * After `zero()` it holds nothing.
 */
export class Keyring {
  private readonly keys: Map<number, Buffer>;
  private readonly derived = new Map<string, Buffer>();
  private zeroed = false;

  /**
   * @param keys each version's key; the keyring takes them over.
   * @param backing buffers the keys are views into (a vault entry's plaintext), released on `zero()`.
   */
  constructor(
    readonly userId: string,
    keys: ReadonlyMap<number, Buffer>,
    readonly activeVersion: number,
    private readonly backing: readonly Buffer[] = [],
  ) {
    if (!keys.has(activeVersion))
      throw new Error(
        `keyring for user has no key for its active version ${activeVersion}`,
      );
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
  derivedKey(
    version: number,
    purpose: string,
    derive: (dataKey: Buffer) => Buffer,
  ): Buffer | undefined {
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

  /**
   * An independent copy with buffers of its own in locked memory (a request's keyring is zeroed
   * when the request ends). `versions` narrows it (each must be held), `add` puts in one more key (taken over, not
   * copied) and `activeVersion` names the active one (by default this keyring's).
   */
  copy(
    options: {
      versions?: readonly number[];
      add?: { version: number; key: Buffer };
      activeVersion?: number;
    } = {},
  ): Keyring {
    const keys = new Map<number, Buffer>();
    try {
      for (const version of options.versions ?? this.versions) {
        const key = this.key(version);
        if (!key)
          throw new Error(`keyring does not hold key version ${version}`);
        keys.set(version, secureCopy(key));
      }
      if (options.add) keys.set(options.add.version, options.add.key);
      return new Keyring(
        this.userId,
        keys,
        options.activeVersion ?? this.activeVersion,
      );
    } catch (error) {
      zeroBuffer(...keys.values());
      throw error;
    }
  }

  get isZeroed(): boolean {
    return this.zeroed;
  }

  zero(): void {
    if (this.zeroed) return;
    this.zeroed = true;
    zeroBuffer(
      ...this.keys.values(),
      ...this.derived.values(),
      ...this.backing,
    );
    this.keys.clear();
    this.derived.clear();
  }

  private assertLive(): void {
    if (this.zeroed) throw new Error('keyring used after it was zeroed');
  }
}
