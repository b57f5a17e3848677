import fc from 'fast-check';
import { createHmac, hkdfSync } from 'node:crypto';
import { hkdfSha256Into, hmacSha256, hmacSha256Into } from './hkdf';
import { isSecureBuffer, zeroBuffer } from './secure-memory';

const hex = (value: string) => Buffer.from(value.replace(/\s/g, ''), 'hex');
const bytes = (length: number, first = 0) =>
  Buffer.from(Array.from({ length }, (_, i) => (first + i) & 0xff));

describe('hmacSha256 (RFC 2104 over libsodium SHA-256)', () => {
  // RFC 4231 §4, HMAC-SHA-256 (case 5 truncates its output, so it is left out).
  it.each([
    {
      name: '1',
      key: Buffer.alloc(20, 0x0b),
      data: Buffer.from('Hi There'),
      mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    },
    {
      name: '2 (short key)',
      key: Buffer.from('Jefe'),
      data: Buffer.from('what do ya want for nothing?'),
      mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    },
    {
      name: '3',
      key: Buffer.alloc(20, 0xaa),
      data: Buffer.alloc(50, 0xdd),
      mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
    },
    {
      name: '4',
      key: bytes(25, 1),
      data: Buffer.alloc(50, 0xcd),
      mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
    },
    {
      name: '6 (key longer than a block)',
      key: Buffer.alloc(131, 0xaa),
      data: Buffer.from(
        'Test Using Larger Than Block-Size Key - Hash Key First',
      ),
      mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    },
    {
      name: '7 (long key and long data)',
      key: Buffer.alloc(131, 0xaa),
      data: Buffer.from(
        'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
      ),
      mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    },
  ])('matches RFC 4231 test case $name', ({ key, data, mac }) => {
    expect(hmacSha256(key, data).equals(hex(mac))).toBe(true);
  });

  it("matches node:crypto's createHmac for any key and message, split into any parts (inline and streamed)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 4 }),
        (key, parts) => {
          const buffers = parts.map((part) => Buffer.from(part));
          const expected = createHmac('sha256', key)
            .update(Buffer.concat(buffers))
            .digest();
          const actual = Buffer.alloc(32);
          hmacSha256Into(actual, Buffer.from(key), ...buffers);
          expect(actual.equals(expected)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('returns its output in locked memory and refuses an output that is not 32 bytes', () => {
    const mac = hmacSha256(Buffer.alloc(32, 1), Buffer.from('x'));
    expect(isSecureBuffer(mac)).toBe(true);
    zeroBuffer(mac);
    expect(() =>
      hmacSha256Into(Buffer.alloc(16), Buffer.alloc(32), Buffer.from('x')),
    ).toThrow(/32 bytes/);
  });
});

describe('hkdfSha256Into (RFC 5869)', () => {
  // RFC 5869 appendix A, the three SHA-256 cases, at their full output lengths (two and three blocks).
  it.each([
    {
      name: 'A.1 basic',
      ikm: Buffer.alloc(22, 0x0b),
      salt: bytes(13),
      info: bytes(10, 0xf0),
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      name: 'A.2 longer inputs',
      ikm: bytes(80),
      salt: bytes(80, 0x60),
      info: bytes(80, 0xb0),
      okm:
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09' +
        'da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      name: 'A.3 empty salt and info',
      ikm: Buffer.alloc(22, 0x0b),
      salt: Buffer.alloc(0),
      info: Buffer.alloc(0),
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ])('reproduces $name', ({ ikm, salt, info, okm }) => {
    const expected = hex(okm);
    const output = Buffer.alloc(expected.length);
    hkdfSha256Into(output, ikm, info, salt);
    expect(output.equals(expected)).toBe(true);
  });

  it("matches node:crypto's hkdfSync for any key, salt, info and length", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 500 }),
        fc.integer({ min: 1, max: 200 }),
        (ikm, salt, info, length) => {
          const expected = Buffer.from(
            hkdfSync('sha256', ikm, salt, info, length),
          );
          const output = Buffer.alloc(length);
          hkdfSha256Into(
            output,
            Buffer.from(ikm),
            Buffer.from(info),
            Buffer.from(salt),
          );
          expect(output.equals(expected)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses output lengths RFC 5869 does not allow', () => {
    expect(() =>
      hkdfSha256Into(
        Buffer.alloc(0),
        Buffer.alloc(32),
        Buffer.alloc(0),
        Buffer.alloc(0),
      ),
    ).toThrow(/1 to 8160/);
    expect(() =>
      hkdfSha256Into(
        Buffer.alloc(255 * 32 + 1),
        Buffer.alloc(32),
        Buffer.alloc(0),
        Buffer.alloc(0),
      ),
    ).toThrow(/1 to 8160/);
  });
});
