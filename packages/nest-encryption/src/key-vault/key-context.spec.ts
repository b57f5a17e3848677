import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { KeyContext } from './key-context';
import { KeyUnavailableError } from './key-vault.errors';
import { Keyring } from './keyring';

const newKeyring = () =>
  new Keyring('user-1', new Map([[1, randomBytes(32)]]), 1);

describe('KeyContext', () => {
  it('scopeReleaser() ends its own scope even when called from another async context', () => {
    const emitter = new EventEmitter();
    const keyring = newKeyring();
    KeyContext.runInScope(() => {
      KeyContext.attach(keyring);
      emitter.once('done', KeyContext.scopeReleaser());
    });
    // Emitted from outside the scope, where release() would find nothing to release.
    KeyContext.release();
    expect(keyring.isZeroed).toBe(false);
    emitter.emit('done');
    expect(keyring.isZeroed).toBe(true);
  });

  it('scopeReleaser() refuses to run outside a scope', () => {
    expect(() => KeyContext.scopeReleaser()).toThrow(/outside a key scope/);
  });

  it('keeps its existing API: attach, current, require, release, runWithKeyring', async () => {
    expect(() => KeyContext.attach(newKeyring())).toThrow(
      /outside a key scope/,
    );
    expect(KeyContext.current()).toBeUndefined();
    expect(() => KeyContext.require()).toThrow(KeyUnavailableError);

    KeyContext.runInScope(() => {
      const first = newKeyring();
      const second = newKeyring();
      KeyContext.attach(first);
      KeyContext.attach(second);
      expect(first.isZeroed).toBe(true);
      expect(KeyContext.require()).toBe(second);
      KeyContext.release();
      expect(second.isZeroed).toBe(true);
      expect(KeyContext.current()).toBeUndefined();
      // release() only detaches: the scope stays open for another keyring.
      const third = newKeyring();
      KeyContext.attach(third);
      expect(KeyContext.current()).toBe(third);
      third.zero();
      expect(KeyContext.current()).toBeUndefined();
    });

    const jobKeyring = newKeyring();
    await expect(
      KeyContext.runWithKeyring(
        jobKeyring,
        () => KeyContext.require().activeVersion,
      ),
    ).resolves.toBe(1);
    expect(jobKeyring.isZeroed).toBe(true);
  });
});
