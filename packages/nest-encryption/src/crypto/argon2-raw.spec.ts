import argon2 from 'argon2';
import { randomBytes } from 'node:crypto';
import { argon2Binding, rawArgon2id } from './argon2-raw';

describe('rawArgon2id (argon2 through its native binding)', () => {
  const options = {
    salt: randomBytes(16),
    secret: randomBytes(32),
    hashLength: 32,
    memoryKiB: 19_456,
    iterations: 2,
    parallelism: 1,
  };

  it('uses the binding for the installed argon2 version (else the password lingers in a pooled copy)', () => {
    expect(argon2Binding()).not.toBeNull();
  });

  it("gives the public argon2.hash()'s raw argon2id output, for the same password, salt, secret and cost", async () => {
    const password = Buffer.from('correct horse battery staple ✓', 'utf8');
    const expected = await argon2.hash(Buffer.from(password), {
      type: argon2.argon2id,
      raw: true,
      salt: options.salt,
      secret: options.secret,
      hashLength: 32,
      memoryCost: options.memoryKiB,
      timeCost: options.iterations,
      parallelism: options.parallelism,
    });
    expect((await rawArgon2id(password, options)).equals(expected)).toBe(true);
    expect(
      (await rawArgon2id(Buffer.from('another password'), options)).equals(
        expected,
      ),
    ).toBe(false);
  });

  it("leaves the caller's password buffer as it was (the caller wipes it)", async () => {
    const password = Buffer.from('a password to keep intact');
    await rawArgon2id(password, options);
    expect(password.toString()).toBe('a password to keep intact');
  });
});
