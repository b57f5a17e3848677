import { advisoryLockKey } from './advisory-lock-key';

const OWNER = '0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10';

describe('advisoryLockKey (the library copy)', () => {
  it('is a signed 64-bit integer, the same for the same namespace and id, different across namespaces', () => {
    const key = advisoryLockKey('key-rotation', OWNER);
    expect(BigInt(key)).toBeGreaterThanOrEqual(-(2n ** 63n));
    expect(BigInt(key)).toBeLessThan(2n ** 63n);
    expect(advisoryLockKey('key-rotation', OWNER)).toBe(key);
    expect(advisoryLockKey('plaintext-adoption', OWNER)).not.toBe(key);
  });

  it('gives key rotation the lock id it had in the app, so processes before and after the move exclude each other', () => {
    expect(advisoryLockKey('key-rotation', OWNER)).toBe('3734741822308339201');
  });
});
