import { createHmac, hkdfSync } from 'node:crypto';
import {
  BLIND_INDEX_BYTES,
  computeBlindIndex,
  deriveBlindIndexKey,
  normalizePhone,
} from './blind-index';

const DEK = Buffer.alloc(32, 0x33);

describe('computeBlindIndex', () => {
  it('reproduces RFC 4231 HMAC-SHA256 Test Case 2 ("Jefe")', () => {
    const index = computeBlindIndex(
      Buffer.from('Jefe', 'utf8'),
      'what do ya want for nothing?',
    );
    expect(index.toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it.each([
    'alice@example.com',
    '',
    'jos\u00e9@example.com',
    '+15550109999',
    '\u{1F600}',
  ])(
    'equals createHmac("sha256", key) over the UTF-8 of %p, at the full 32 bytes',
    (value) => {
      const key = Buffer.alloc(32, 0x44);
      const expected = createHmac('sha256', key)
        .update(Buffer.from(value, 'utf8'))
        .digest();
      const index = computeBlindIndex(key, value);
      expect(index.length).toBe(BLIND_INDEX_BYTES);
      expect(index.equals(expected)).toBe(true);
    },
  );

  it('differs per key and per value', () => {
    const a = computeBlindIndex(Buffer.alloc(32, 1), 'alice@example.com');
    expect(
      a.equals(computeBlindIndex(Buffer.alloc(32, 2), 'alice@example.com')),
    ).toBe(false);
    expect(
      a.equals(computeBlindIndex(Buffer.alloc(32, 1), 'alice@example.org')),
    ).toBe(false);
  });
});

describe('deriveBlindIndexKey', () => {
  it('is HKDF(DEK, "vault-pii/v1/blind-index/<purpose>")', () => {
    const expected = Buffer.from(
      hkdfSync(
        'sha256',
        DEK,
        Buffer.alloc(0),
        'vault-pii/v1/blind-index/contacts.email',
        32,
      ),
    );
    expect(deriveBlindIndexKey(DEK, 'contacts.email').equals(expected)).toBe(
      true,
    );
  });

  it('is deterministic and differs per purpose and per DEK', () => {
    const key = deriveBlindIndexKey(DEK, 'contacts.email');
    expect(key.length).toBe(32);
    expect(key.equals(deriveBlindIndexKey(DEK, 'contacts.email'))).toBe(true);
    expect(key.equals(deriveBlindIndexKey(DEK, 'contacts.phone'))).toBe(false);
    expect(
      key.equals(deriveBlindIndexKey(Buffer.alloc(32, 0x34), 'contacts.email')),
    ).toBe(false);
    expect(key.equals(DEK)).toBe(false);
  });
});

describe('normalizePhone', () => {
  it.each([
    ['+1 (555) 010-9999', '+15550109999'],
    ['+15550109999', '+15550109999'],
    ['555.010.9999', '+5550109999'],
    ['+44 20 7946 0958', '+442079460958'],
    [' +33 1-23-45-67-89 ', '+33123456789'],
  ])('normalises %p to %p', (input, expected) => {
    expect(normalizePhone(input)).toBe(expected);
  });
});
