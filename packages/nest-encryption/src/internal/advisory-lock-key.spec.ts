import { advisoryLockKey } from './advisory-lock-key';

const OWNER = '0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10';

describe('advisoryLockKey', () => {
  it('is a signed 64-bit integer, the same for the same namespace and id', () => {
    const key = advisoryLockKey('key-rotation', OWNER);
    expect(key).toMatch(/^-?\d+$/);
    expect(BigInt(key)).toBeGreaterThanOrEqual(-(2n ** 63n));
    expect(BigInt(key)).toBeLessThan(2n ** 63n);
    expect(advisoryLockKey('key-rotation', OWNER)).toBe(key);
  });

  it('differs between namespaces and between ids', () => {
    const keys = new Set([
      advisoryLockKey('session-cap', OWNER),
      advisoryLockKey('key-rotation', OWNER),
      advisoryLockKey('plaintext-adoption', OWNER),
      advisoryLockKey('session-cap', OWNER.replace('0b8e', '0b8f')),
    ]);
    expect(keys.size).toBe(4);
  });

  it('gives key rotation the lock id it had in the app, so processes before and after the move exclude each other', () => {
    expect(advisoryLockKey('key-rotation', OWNER)).toBe('3734741822308339201');
  });
});
