import { ENVELOPE_FORMAT_VERSION } from '../crypto';
import {
  ADOPTED_PLAINTEXT_MARKER,
  decodeAdoptedPlaintext,
  decodeValue,
  encodeAdoptedPlaintext,
  encodeValue,
  isAdoptedPlaintext,
  kindOf,
  MalformedAdoptedPlaintextError,
} from './encrypted-value-codec';

describe('encrypted value codec', () => {
  it.each<[string, unknown]>([
    ['ASCII string', 'Ada Lovelace'],
    ['empty string', ''],
    ['multi-byte string', 'Zoë ☃ 李 𝔸'],
    ['number', -1234.5678],
    ['boolean', false],
    ['JSON', { street: '12 St James’s Square', lines: ['Flat 1'], n: 2 }],
  ])('round-trips a %s', (_name, value) => {
    expect(decodeValue(encodeValue(value))).toEqual(value);
  });

  it('round-trips a Date as a Date', () => {
    const decoded = decodeValue(
      encodeValue(new Date('1815-12-10T00:00:00.000Z')),
    );
    expect(decoded).toBeInstanceOf(Date);
    expect((decoded as Date).toISOString()).toBe('1815-12-10T00:00:00.000Z');
  });

  it('lays a string out as one tag byte then its UTF-8, exactly as long as that', () => {
    const encoded = encodeValue('é☃');
    expect([...encoded]).toEqual([1, ...Buffer.from('é☃', 'utf8')]);
  });

  it('takes the kind from the value unless one is given', () => {
    expect(kindOf('x')).toBe('string');
    expect(kindOf(new Date())).toBe('date');
    expect(kindOf([1])).toBe('json');
    expect(decodeValue(encodeValue(42, 'string'))).toBe('42');
  });

  it('rejects an unknown tag', () => {
    expect(() => decodeValue(Buffer.from([9, 1]))).toThrow(TypeError);
  });
});

describe('adopted plaintext: 0x00 ‖ encodeValue(value)', () => {
  it('is the marker byte then exactly what encodeValue writes', () => {
    expect(ADOPTED_PLAINTEXT_MARKER).toBe(0);
    for (const value of ['é☃', '', -0, 2.5, true, new Date(0), { a: [1] }])
      expect(encodeAdoptedPlaintext(value)).toEqual(
        Buffer.concat([Buffer.from([0]), encodeValue(value)]),
      );
  });

  it('can never be confused with an envelope, whose first byte is its format version', () => {
    expect(ENVELOPE_FORMAT_VERSION).not.toBe(ADOPTED_PLAINTEXT_MARKER);
    expect(isAdoptedPlaintext(Buffer.from([0, 1, 0x41]))).toBe(true);
    expect(isAdoptedPlaintext(Buffer.from([ENVELOPE_FORMAT_VERSION, 1]))).toBe(
      false,
    );
    expect(isAdoptedPlaintext(Buffer.alloc(0))).toBe(false);
  });

  it.each<[string, unknown]>([
    ['string', 'Zoë ☃ 李 𝔸'],
    ['empty string', ''],
    ['number', -1234.5678],
    ['boolean', true],
    ['JSON', { lines: ['Flat 1'], n: null }],
  ])('decodes a %s to the value written', (_name, value) => {
    expect(decodeAdoptedPlaintext(encodeAdoptedPlaintext(value))).toEqual(
      value,
    );
  });

  it('keeps the sign of zero and the instant of a Date', () => {
    expect(
      Object.is(decodeAdoptedPlaintext(encodeAdoptedPlaintext(-0)), -0),
    ).toBe(true);
    const date = new Date('1815-12-10T12:34:56.789Z');
    expect(decodeAdoptedPlaintext(encodeAdoptedPlaintext(date))).toEqual(date);
  });

  it.each<[string, number[], RegExp]>([
    ['no marker', [1, 1, 0x41], /marker/],
    ['no tag', [0], /unknown value tag none/],
    ['an unknown tag', [0, 9, 1], /unknown value tag 9/],
    ['a short number', [0, 2, 1, 2, 3], /number value is 8 bytes, not 3/],
    ['a long boolean', [0, 3, 1, 1], /boolean value is 1 bytes, not 2/],
    ['a boolean of 2', [0, 3, 2], /a boolean is 0 or 1/],
    ['an infinite date', [0, 4, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], /finite/],
  ])('refuses %s', (_name, bytes, message) => {
    expect(() => decodeAdoptedPlaintext(Buffer.from(bytes))).toThrow(
      MalformedAdoptedPlaintextError,
    );
    expect(() => decodeAdoptedPlaintext(Buffer.from(bytes))).toThrow(message);
  });

  it('refuses JSON that does not parse without quoting it', () => {
    const stored = Buffer.concat([
      Buffer.from([0, 5]),
      Buffer.from('{"ssn": "078-05'),
    ]);
    expect(() => decodeAdoptedPlaintext(stored)).toThrow(
      'malformed adopted plaintext: the JSON does not parse',
    );
  });
});
