import { advisoryLockKey } from './advisory-lock-key';

const USER = '0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10';

describe('advisoryLockKey', () => {
  it('is a signed 64-bit integer, the same for the same namespace and id', () => {
    const key = advisoryLockKey('session-cap', USER);
    expect(key).toMatch(/^-?\d+$/);
    expect(BigInt(key)).toBeGreaterThanOrEqual(-(2n ** 63n));
    expect(BigInt(key)).toBeLessThan(2n ** 63n);
    expect(advisoryLockKey('session-cap', USER)).toBe(key);
  });

  it('differs between namespaces and between ids', () => {
    const keys = new Set([
      advisoryLockKey('session-cap', USER),
      advisoryLockKey('key-rotation', USER),
      advisoryLockKey('session-cap', USER.replace('0b8e', '0b8f')),
    ]);
    expect(keys.size).toBe(3);
  });

  it('gives key rotation the lock key it used before it moved here (instances of both versions exclude each other)', () => {
    expect(advisoryLockKey('key-rotation', USER)).toBe('3734741822308339201');
  });
});
