import {
  isSecureBuffer,
  secureAlloc,
  secureCopy,
  secureMemoryStatus,
  secureTakeOver,
  zeroBuffer,
} from './secure-memory';

describe('zeroBuffer', () => {
  it('zeroes every buffer it is given, in place', () => {
    const a = Buffer.alloc(32, 0xab);
    const b = Buffer.from('secret key material', 'utf8');
    zeroBuffer(a, b);
    expect(a.equals(Buffer.alloc(32))).toBe(true);
    expect(b.equals(Buffer.alloc(b.length))).toBe(true);
  });

  it('zeroes only the bytes of a subarray view, not the rest of its backing memory', () => {
    const parent = Buffer.alloc(16, 0xff);
    zeroBuffer(parent.subarray(4, 8));
    expect([...parent]).toEqual([
      0xff,
      0xff,
      0xff,
      0xff,
      0,
      0,
      0,
      0,
      ...Array<number>(8).fill(0xff),
    ]);
  });

  it('tolerates undefined, null and empty buffers among real ones', () => {
    const real = Buffer.alloc(8, 1);
    expect(() =>
      zeroBuffer(undefined, null, Buffer.alloc(0), real),
    ).not.toThrow();
    expect(real.equals(Buffer.alloc(8))).toBe(true);
    expect(() => zeroBuffer()).not.toThrow();
  });
});

describe('secure memory', () => {
  it('hands out zero-filled buffers of exactly the length asked for, in locked memory', () => {
    for (const length of [0, 1, 32, 33, 100, 4096, 5000]) {
      const buffer = secureAlloc(length);
      expect(buffer).toHaveLength(length);
      expect(buffer.every((byte) => byte === 0)).toBe(true);
      expect(isSecureBuffer(buffer)).toBe(true);
      zeroBuffer(buffer);
    }
    expect(isSecureBuffer(Buffer.alloc(32))).toBe(false);
  });

  it('wipes a slot when it is released and hands the same memory to the next key, zeroed', () => {
    const first = secureAlloc(32);
    first.fill(0xab);
    const view = new Uint8Array(first.buffer, first.byteOffset, 32); // what a stale reference would see
    zeroBuffer(first);
    expect(view.every((byte) => byte === 0)).toBe(true);
    expect(isSecureBuffer(first)).toBe(false);
    const second = secureAlloc(32);
    expect(second.byteOffset).toBe(first.byteOffset); // the slot was reused
    expect(second.every((byte) => byte === 0)).toBe(true);
    zeroBuffer(second);
  });

  it('ignores a second release of the same buffer, so it cannot wipe the key that got its slot', () => {
    const first = secureAlloc(32);
    zeroBuffer(first);
    const second = secureAlloc(32);
    second.fill(0x5a);
    zeroBuffer(first);
    expect(second.every((byte) => byte === 0x5a)).toBe(true);
    expect(isSecureBuffer(second)).toBe(true);
    zeroBuffer(second);
  });

  it('counts the slots in use, so a test can tell that every key was released', () => {
    const before = secureMemoryStatus().slotsInUse;
    const keys = [secureAlloc(32), secureAlloc(64), secureAlloc(200)];
    expect(secureMemoryStatus().slotsInUse).toBe(before + 3);
    zeroBuffer(...keys);
    expect(secureMemoryStatus().slotsInUse).toBe(before);
  });

  it('grows by slabs when one is full', () => {
    const before = secureMemoryStatus().slabs;
    const keys = Array.from({ length: 2000 }, () => secureAlloc(32));
    const slabIds = new Map<ArrayBufferLike, number>();
    const places = keys.map(
      (key) =>
        `${slabIds.get(key.buffer) ?? slabIds.set(key.buffer, slabIds.size).size - 1}:${key.byteOffset}`,
    );
    expect(new Set(places).size).toBe(2000);
    expect(secureMemoryStatus().slabs).toBeGreaterThan(before);
    zeroBuffer(...keys);
  });

  it('copies into secure memory, and takes over (wiping the source)', () => {
    const source = Buffer.alloc(32, 7);
    const copy = secureCopy(source);
    expect(copy.equals(source)).toBe(true);
    expect(isSecureBuffer(copy)).toBe(true);
    const taken = secureTakeOver(source);
    expect(taken.equals(Buffer.alloc(32, 7))).toBe(true);
    expect(source.every((byte) => byte === 0)).toBe(true);
    zeroBuffer(copy, taken);
  });

  it('reports whether the memory is locked, with the RLIMIT_MEMLOCK in force', () => {
    const status = secureMemoryStatus();
    expect(status.slabs).toBeGreaterThan(0);
    expect(typeof status.locked).toBe('boolean');
    if (process.platform === 'linux')
      expect(status.memlockLimitBytes).toBeDefined();
    // With a limit above what the slabs need (8 MiB here and on CI), locking must work.
    if ((status.memlockLimitBytes ?? 0) > status.secureBytes + 65536)
      expect(status).toMatchObject({ locked: true, lockFailure: undefined });
  });
});
