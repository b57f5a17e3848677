import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { isSecureBuffer, zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { decodeBase64Secret, encodeBase64Secret } from './base64-bytes';

const ascii = (text: string) => Buffer.from(text, 'latin1');

describe('base64 over bytes (keys that never become strings)', () => {
  it('encodes like Buffer#toString("base64"), into secure memory', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const encoded = encodeBase64Secret(bytes);
        expect(encoded.toString('latin1')).toBe(
          Buffer.from(bytes).toString('base64'),
        );
        if (encoded.length > 0) expect(isSecureBuffer(encoded)).toBe(true);
        zeroBuffer(encoded);
      }),
    );
  });

  it('decodes what Buffer encodes, into secure memory', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
        const decoded = decodeBase64Secret(
          ascii(Buffer.from(bytes).toString('base64')),
        );
        expect(decoded && Buffer.from(decoded)).toEqual(Buffer.from(bytes));
        expect(isSecureBuffer(decoded as Buffer)).toBe(true);
        zeroBuffer(decoded);
      }),
    );
  });

  it('round-trips a 32-byte key', () => {
    const key = randomBytes(32);
    const encoded = encodeBase64Secret(key);
    expect(encoded.length).toBe(44);
    expect(decodeBase64Secret(encoded)?.equals(key)).toBe(true);
  });

  it('accepts exactly the 64 characters of the standard alphabet', () => {
    const alphabet =
      'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (let byte = 0; byte < 256; byte++) {
      const character = String.fromCharCode(byte);
      const decoded = decodeBase64Secret(Buffer.from([byte, byte, byte, byte]));
      if (alphabet.includes(character)) {
        expect(
          decoded?.equals(Buffer.from(character.repeat(4), 'base64')),
        ).toBe(true);
      } else {
        expect(decoded).toBeUndefined();
      }
    }
  });

  it('ignores bits left over in the last character, as Node does', () => {
    expect(decodeBase64Secret(ascii('QR=='))?.toString('latin1')).toBe('A');
    expect(decodeBase64Secret(ascii('QUJ='))?.toString('latin1')).toBe('AB');
  });

  it.each([
    ['empty', ''],
    ['a length that is not a multiple of 4', 'QUJD' + 'QQ'],
    ['missing padding', 'QQ'],
    ['a space', 'QUJ D'],
    ['a newline', 'QUJD\n'],
    ['CRLF inside', 'QU\r\nJD'],
    ['URL-safe characters', 'ab-_'],
    ['padding in the middle', 'QQ==QUJD'],
    ['three padding characters', 'Q==='],
    ['only padding', '===='],
    ['a NUL byte', 'QUJ\0'],
    ['a non-ASCII byte', 'QUJ\u00c3'],
    ['a dot', 'QUJ.'],
  ])('refuses %s', (_name, text) => {
    expect(decodeBase64Secret(ascii(text))).toBeUndefined();
  });
});
