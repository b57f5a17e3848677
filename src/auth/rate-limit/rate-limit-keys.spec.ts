import { randomBytes } from 'node:crypto';
import { clientAddressBucket, RateLimitKeys } from './rate-limit-keys';

describe('RateLimitKeys.forAccount', () => {
  const keys = new RateLimitKeys(randomBytes(32));

  it('names one counter for every spelling of one address (docs/http-api.md#emails)', () => {
    const counter = keys.forAccount('ada@xn--bcher-kva.de');
    for (const spelling of [
      ' Ada@B\u00fccher.DE ',
      'ADA@XN--BCHER-KVA.DE',
      '\uff41\uff44\uff41@b\u00fccher.de',
      // An account's stored email in its legacy form (Unicode domain) counts with its login form.
      'ada@b\u00fccher.de',
    ])
      expect(keys.forAccount(spelling)).toBe(counter);
    expect(keys.forAccount('ada@bucher.de')).not.toBe(counter);
  });

  it('names a counter for a stored address the current rules refuse, without throwing', () => {
    expect(keys.forAccount('ada\u200b@example.org')).toMatch(
      /^login:[0-9a-f]{32}$/,
    );
    expect(keys.forAccount('ada\u200b@example.org')).not.toBe(
      keys.forAccount('ada@example.org'),
    );
    expect(() => keys.forAccount('\ud800')).not.toThrow();
  });
});

describe('clientAddressBucket: the client a per-address limit counts', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:0000:0000:0000:0001', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:3:4:198.51.100.7', '2001:db8:1:2::/64'],
    ['2001:db8::', '2001:db8::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['fe80::abcd%25', 'fe80::/64'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '192.0.2.1'],
    ['::1', '::1'],
  ])('%s → %s', (address, bucket) => {
    expect(clientAddressBucket(address)).toBe(bucket);
  });

  it('puts two addresses of one /64 together and the next /64 apart', () => {
    expect(clientAddressBucket('2001:db8:aa:bb::1')).toBe(
      clientAddressBucket('2001:db8:aa:bb:1234:5678:9abc:def0'),
    );
    expect(clientAddressBucket('2001:db8:aa:bb::1')).not.toBe(
      clientAddressBucket('2001:db8:aa:bc::1'),
    );
  });

  it('counts anything that is not an address as given, and is idempotent', () => {
    expect(clientAddressBucket('not an address')).toBe('not an address');
    expect(clientAddressBucket('2001:db8::1::2')).toBe('2001:db8::1::2');
    expect(clientAddressBucket(clientAddressBucket('2001:db8:1:2::9'))).toBe(
      '2001:db8:1:2::/64',
    );
  });
});

describe('RateLimitKeys', () => {
  const keys = new RateLimitKeys(randomBytes(32));

  it('names one client address budget per IPv6 /64, whatever the spelling, and IPv4-mapped as IPv4', () => {
    expect(keys.forClientAddress('2001:db8:1:2::1')).toBe(
      keys.forClientAddress('2001:DB8:1:2:8000::99'),
    );
    expect(keys.forClientAddress('2001:db8:1:2::1')).not.toBe(
      keys.forClientAddress('2001:db8:1:3::1'),
    );
    expect(keys.forClientAddress('::ffff:198.51.100.7')).toBe(
      keys.forClientAddress('198.51.100.7'),
    );
    expect(keys.forClientAddress('198.51.100.7')).not.toBe(
      keys.forClientAddress('198.51.100.8'),
    );
  });

  it('names counters by an HMAC: no address or email in the key, and each purpose keyed apart', () => {
    const email = 'Ada@Example.org';
    const account = keys.forAccount(email);
    const registration = keys.forRegistration(email);
    expect(account).toMatch(/^login:[0-9a-f]{32}$/);
    expect(registration).toMatch(/^register:[0-9a-f]{32}$/);
    expect(registration.slice('register:'.length)).not.toBe(
      account.slice('login:'.length),
    );
    expect(keys.forRegistration(' ada@example.ORG ')).toBe(registration);
    expect(keys.forClientAddress('198.51.100.7')).toMatch(
      /^address:[0-9a-f]{32}$/,
    );
    expect(new RateLimitKeys(randomBytes(32)).forRegistration(email)).not.toBe(
      registration,
    );
  });
});
