import { decodeValue, encodeValue, kindOf } from './encrypted-value-codec';

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
