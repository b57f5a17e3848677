import fc from 'fast-check';
import { hkdfSync } from 'node:crypto';
import { hkdfSha256 } from '../crypto/kdf';
import { deriveSessionKey, hkdfSha256Block } from './session-key';

const hex = (value: string) => Buffer.from(value.replace(/\s/g, ''), 'hex');

describe('hkdfSha256Block', () => {
  // RFC 5869 appendix A (SHA-256 cases); the first 32 bytes of each OKM are T(1).
  it.each([
    {
      name: 'A.1 basic',
      ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
      salt: hex('000102030405060708090a0b0c'),
      info: hex('f0f1f2f3f4f5f6f7f8f9'),
      okm: hex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf'),
    },
    {
      name: 'A.2 longer inputs (salt and IKM above one block)',
      ikm: Buffer.from(Array.from({ length: 80 }, (_, i) => i)),
      salt: Buffer.from(Array.from({ length: 80 }, (_, i) => 0x60 + i)),
      info: Buffer.from(Array.from({ length: 80 }, (_, i) => 0xb0 + i)),
      okm: hex('b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c'),
    },
    {
      name: 'A.3 empty salt and info',
      ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
      salt: Buffer.alloc(0),
      info: Buffer.alloc(0),
      okm: hex('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d'),
    },
  ])('matches RFC 5869 $name', ({ ikm, salt, info, okm }) => {
    expect(hkdfSha256Block(ikm, salt, info).equals(okm)).toBe(true);
  });

  it("matches node's hkdfSync for any key, salt and info (including ones that grow the scratch)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        (ikm, salt, info) => {
          const expected = Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
          expect(hkdfSha256Block(Buffer.from(ikm), Buffer.from(salt), info).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('deriveSessionKey', () => {
  it("is src/crypto's hkdfSha256(vaultKey, 'vault/session/' + sessionId, 32, clientShare)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ minLength: 16, maxLength: 64 }),
        (vaultKey, sessionId, clientShare) => {
          const expected = hkdfSha256(Buffer.from(vaultKey), `vault/session/${sessionId}`, 32, Buffer.from(clientShare));
          expect(deriveSessionKey(Buffer.from(vaultKey), sessionId, Buffer.from(clientShare)).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives different keys for different sessions, shares and vault keys', () => {
    const vaultKey = Buffer.alloc(32, 1);
    const share = Buffer.alloc(16, 2);
    const base = deriveSessionKey(vaultKey, 's1', share);
    expect(deriveSessionKey(vaultKey, 's2', share).equals(base)).toBe(false);
    expect(deriveSessionKey(vaultKey, 's1', Buffer.alloc(16, 3)).equals(base)).toBe(false);
    expect(deriveSessionKey(Buffer.alloc(32, 4), 's1', share).equals(base)).toBe(false);
  });
});
