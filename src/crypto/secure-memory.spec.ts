import { zeroBuffer } from './secure-memory';

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
    expect([...parent]).toEqual([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, ...Array<number>(8).fill(0xff)]);
  });

  it('tolerates undefined, null and empty buffers among real ones', () => {
    const real = Buffer.alloc(8, 1);
    expect(() => zeroBuffer(undefined, null, Buffer.alloc(0), real)).not.toThrow();
    expect(real.equals(Buffer.alloc(8))).toBe(true);
    expect(() => zeroBuffer()).not.toThrow();
  });
});
