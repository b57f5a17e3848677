import { randomBytes } from 'node:crypto';
import { isSecureBuffer } from '../crypto';
import { Keyring } from './keyring';

describe('Keyring.copy', () => {
  const keyringOf = (versions: number[], active: number) =>
    new Keyring(
      'user-1',
      new Map(versions.map((version) => [version, randomBytes(32)])),
      active,
    );

  it('copies every key into buffers of its own: zeroing either side leaves the other whole', () => {
    const original = keyringOf([1, 2], 2);
    const copy = original.copy();
    expect(copy.userId).toBe('user-1');
    expect(copy.activeVersion).toBe(2);
    expect(copy.versions.sort()).toEqual([1, 2]);
    for (const version of [1, 2]) {
      expect(copy.key(version)).toEqual(original.key(version));
      expect(copy.key(version)).not.toBe(original.key(version));
      expect(isSecureBuffer(copy.key(version) as Buffer)).toBe(true); // in locked memory
    }
    const activeBefore = Buffer.from(original.activeKey());
    original.zero();
    expect(copy.activeKey()).toEqual(activeBefore);
    copy.zero();
    expect(() => copy.activeKey()).toThrow('zeroed');
  });

  it('narrows to some versions, adds a key it takes over, and names another active version', () => {
    const original = keyringOf([1, 2], 1);
    const added = randomBytes(32);
    const next = original.copy({
      add: { version: 3, key: added },
      activeVersion: 3,
    });
    expect(next.versions.sort()).toEqual([1, 2, 3]);
    expect(next.activeKey()).toBe(added);
    const pair = next.copy({ versions: [1, 3], activeVersion: 3 });
    expect(pair.versions.sort()).toEqual([1, 3]);
    expect(pair.key(2)).toBeUndefined();
  });

  it('refuses a version it does not hold, or an active version outside the copy', () => {
    const original = keyringOf([1, 2], 2);
    expect(() => original.copy({ versions: [1, 5] })).toThrow(
      'does not hold key version 5',
    );
    expect(() => original.copy({ versions: [1] })).toThrow(
      'no key for its active version 2',
    );
  });
});
