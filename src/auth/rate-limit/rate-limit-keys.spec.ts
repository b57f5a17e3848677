import { randomBytes } from 'node:crypto';
import { RateLimitKeys } from './rate-limit-keys';

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
