import { addressAllowed } from './access-key-authenticator';

describe('addressAllowed (an access key used from one of its allowedAddresses)', () => {
  it.each([
    ['an exact IPv4 address', '203.0.113.7', ['203.0.113.7']],
    ['an exact IPv6 address', '2001:db8::7', ['2001:db8::7']],
    [
      'an IPv6 address however it is written',
      '2001:db8:0:0:0:0:0:7',
      ['2001:0db8::7'],
    ],
    ['an IPv4 range', '203.0.113.200', ['203.0.113.0/24']],
    ['an IPv6 range', '2001:db8:ffff::1', ['2001:db8::/32']],
    [
      'one entry of several',
      '198.51.100.9',
      ['203.0.113.7', '198.51.100.0/24'],
    ],
    [
      'an IPv4 client on a dual-stack socket (::ffff:-mapped) against an IPv4 address',
      '::ffff:203.0.113.7',
      ['203.0.113.7'],
    ],
    [
      'an ::ffff:-mapped IPv4 client against an IPv4 range',
      '::FFFF:203.0.113.200',
      ['203.0.113.0/24'],
    ],
    ['any IPv4 client by 0.0.0.0/0', '198.51.100.9', ['0.0.0.0/0']],
    ['any IPv6 client by ::/0', '2001:db8::7', ['::/0']],
  ])('admits %s', (_what, ip, allowed) => {
    expect(addressAllowed(ip, allowed)).toBe(true);
  });

  it.each([
    // node's BlockList would count an IPv4 client as ::ffff:a.b.c.d inside ::/0: not here.
    ['an IPv4 client against ::/0 (IPv6 only)', '198.51.100.9', ['::/0']],
    ['an IPv4 address next to the allowed one', '203.0.113.8', ['203.0.113.7']],
    ['an IPv6 address next to the allowed one', '2001:db8::8', ['2001:db8::7']],
    ['an IPv4 address outside the range', '203.0.114.1', ['203.0.113.0/24']],
    ['an IPv6 address outside the range', '2001:db9::1', ['2001:db8::/32']],
    [
      'an ::ffff:-mapped IPv4 client outside the IPv4 range',
      '::ffff:203.0.114.1',
      ['203.0.113.0/24'],
    ],
    [
      'an IPv6 client against IPv4 entries',
      '2001:db8::7',
      ['203.0.113.7', '0.0.0.0/0'],
    ],
    ['an IPv4 client against an IPv6 range', '203.0.113.7', ['2001:db8::/32']],
    ['any client when no entry is usable', '203.0.113.7', ['example.org']],
    ['any client of an empty list', '203.0.113.7', []],
  ])('refuses %s', (_what, ip, allowed) => {
    expect(addressAllowed(ip, allowed)).toBe(false);
  });

  it('refuses a request whose address is unknown (no socket address), whatever is allowed', () => {
    expect(addressAllowed(undefined, ['0.0.0.0/0', '::/0'])).toBe(false);
    expect(addressAllowed('', ['0.0.0.0/0', '::/0'])).toBe(false);
  });
});
