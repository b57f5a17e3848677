import { isAddressOrRange } from './access-key.dto';

describe('isAddressOrRange (allowedAddresses entries)', () => {
  it.each([
    ['an IPv4 address', '203.0.113.7'],
    ['an IPv6 address', '2001:db8::7'],
    [
      'an IPv6 address written in full',
      '2001:0db8:0000:0000:0000:0000:0000:0007',
    ],
    ['an IPv4-mapped IPv6 address', '::ffff:203.0.113.7'],
    ['an IPv4 range', '203.0.113.0/24'],
    ['an IPv6 range', '2001:db8::/32'],
    ['every IPv4 address', '0.0.0.0/0'],
    ['every IPv6 address', '::/0'],
    ['one IPv4 address as a range', '203.0.113.7/32'],
    ['one IPv6 address as a range', '2001:db8::7/128'],
  ])('accepts %s: %p', (_what, value) => {
    expect(isAddressOrRange(value)).toBe(true);
  });

  it.each([
    ['an IPv4 prefix beyond 32', '203.0.113.0/33'],
    ['an IPv6 prefix beyond 128', '2001:db8::/129'],
    ['a negative prefix', '203.0.113.0/-1'],
    ['a prefix with a leading zero', '203.0.113.0/08'],
    ['an IPv6 prefix with a leading zero', '2001:db8::/032'],
    ['an IPv4 octet with a leading zero', '203.0.113.07'],
    ['a prefix of four digits', '2001:db8::/0128'],
    ['a prefix that is no number', '203.0.113.0/a'],
    ['an empty prefix', '203.0.113.0/'],
    ['a prefix with a space', '203.0.113.0/ 24'],
    ['a second slash', '203.0.113.0/24/8'],
    ['a hostname', 'example.org'],
    ['localhost', 'localhost'],
    ['a hostname range', 'example.org/24'],
    ['an IPv4 address with too few octets', '203.0.113'],
    ['an octet beyond 255', '203.0.113.256'],
    ['padding', ' 203.0.113.7'],
    ['the empty string', ''],
    ['a range alone', '/24'],
  ])('refuses %s: %p', (_what, value) => {
    expect(isAddressOrRange(value)).toBe(false);
  });

  it('refuses more than 64 characters, even what node:net takes for an address', () => {
    // An IPv6 link-local address with a zone id: node:net accepts any zone name, of any length.
    const withZone = (length: number) =>
      `fe80::1%${'a'.repeat(length - 'fe80::1%'.length)}`;
    expect(isAddressOrRange(withZone(64))).toBe(true);
    expect(isAddressOrRange(withZone(65))).toBe(false);
  });

  it.each([
    ['a number', 3_405_803_783],
    ['null', null],
    ['undefined', undefined],
    ['an array', ['203.0.113.7']],
    ['an object', { address: '203.0.113.7' }],
  ])('refuses %s', (_what, value) => {
    expect(isAddressOrRange(value)).toBe(false);
  });
});
