import { createHash, createHmac, hkdfSync } from 'node:crypto';
import argon2 from 'argon2';
import { InvalidCryptoInputError } from './errors';
import {
  Argon2Params,
  CURRENT_PASSWORD_KDF_VERSION,
  DERIVED_KEY_BYTES,
  KDF_SALT_BYTES,
  OWASP_MINIMUM_ARGON2_PARAMS,
  derivePasswordMasterKey,
  generateSalt,
  hkdfSha256,
  keyArgon2Output,
  passwordKdfVersion,
  splitPasswordMasterKey,
  verifiersMatch,
} from './kdf';
import { isSecureBuffer } from './secure-memory';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const run = (first: number, count: number): Buffer =>
  Buffer.from(Array.from({ length: count }, (_, i) => (first + i) & 0xff));

/** Cheap argon2id cost so the suite stays fast; one test below uses the OWASP minimum. */
const FAST: Argon2Params = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const SALT = run(0x10, 16);
const PEPPER = Buffer.from('server pepper, 32 bytes long....', 'utf8');
const ARGON2_OUTPUT_KEY = run(0xa0, 32);

// RFC 5869 appendix A, the three HKDF-SHA256 cases.
const RFC5869 = [
  {
    name: 'Test Case 1 (basic)',
    ikm: Buffer.alloc(22, 0x0b),
    salt: run(0x00, 13),
    info: run(0xf0, 10),
    length: 42,
    okm: hex(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    ),
  },
  {
    name: 'Test Case 2 (longer inputs and outputs)',
    ikm: run(0x00, 80),
    salt: run(0x60, 80),
    info: run(0xb0, 80),
    length: 82,
    okm: hex(`
      b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
      59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
      cc30c58179ec3e87c14c01d5c1f3434f1d87`),
  },
  {
    name: 'Test Case 3 (zero-length salt and info)',
    ikm: Buffer.alloc(22, 0x0b),
    salt: Buffer.alloc(0),
    info: Buffer.alloc(0),
    length: 42,
    okm: hex(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    ),
  },
];

/** The module's documented construction, recomputed independently from node:crypto. */
const labelledHkdf = (
  ikm: Buffer,
  label: string,
  length = 32,
  salt: Buffer = Buffer.alloc(0),
): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, `vault-pii/v1/${label}`, length));

describe('HKDF-SHA256 primitive (node:crypto hkdfSync) — RFC 5869', () => {
  it.each(RFC5869)(
    'reproduces $name exactly',
    ({ ikm, salt, info, length, okm }) => {
      const out = Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
      expect(out.toString('hex')).toBe(okm.toString('hex'));
    },
  );
});

describe('hkdfSha256', () => {
  it.each(RFC5869)(
    'is hkdfSync with info prefixed by "vault-pii/v1/" on the $name inputs',
    ({ ikm, salt, length }) => {
      const out = hkdfSha256(ikm, 'x', length, salt);
      expect(Buffer.isBuffer(out)).toBe(true);
      expect(out.length).toBe(length);
      expect(out.equals(labelledHkdf(ikm, 'x', length, salt))).toBe(true);
    },
  );

  it('differs from unprefixed HKDF, so its keys are domain-separated from other users of the same IKM', () => {
    const ikm = run(0, 32);
    expect(
      hkdfSha256(ikm, 'x').equals(
        Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), 'x', 32)),
      ),
    ).toBe(false);
  });

  it('defaults to 32 bytes and an empty salt', () => {
    const ikm = run(0x20, 32);
    const out = hkdfSha256(ikm, 'password/kek');
    expect(out.length).toBe(DERIVED_KEY_BYTES);
    expect(
      out.equals(labelledHkdf(ikm, 'password/kek', 32, Buffer.alloc(0))),
    ).toBe(true);
    // RFC 5869: an absent salt is HashLen zero bytes.
    expect(
      out.equals(hkdfSha256(ikm, 'password/kek', 32, Buffer.alloc(32))),
    ).toBe(true);
  });

  it('gives different keys for different labels, IKMs and salts', () => {
    const ikm = run(0x20, 32);
    const base = hkdfSha256(ikm, 'a');
    expect(base.equals(hkdfSha256(ikm, 'b'))).toBe(false);
    expect(base.equals(hkdfSha256(run(0x21, 32), 'a'))).toBe(false);
    expect(base.equals(hkdfSha256(ikm, 'a', 32, Buffer.from([1])))).toBe(false);
  });
});

describe('argon2id primitive (argon2 npm) — RFC 9106 §5.3', () => {
  it('reproduces the published argon2id tag', async () => {
    // The module never passes associated data, but proving the binding against the RFC
    // (which needs secret and AD) shows the `secret` (pepper) input is wired correctly.
    const tag = await argon2.hash(Buffer.alloc(32, 0x01), {
      type: argon2.argon2id,
      raw: true,
      salt: Buffer.alloc(16, 0x02),
      secret: Buffer.alloc(8, 0x03),
      associatedData: Buffer.alloc(12, 0x04),
      memoryCost: 32,
      timeCost: 3,
      parallelism: 4,
      hashLength: 32,
    });
    expect(tag.toString('hex')).toBe(
      '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
    );
  });
});

describe('derivePasswordMasterKey, version 1 (no version stored): the argon2id output itself', () => {
  const derive = (
    password = 'correct horse battery staple',
    salt = SALT,
    params = FAST,
    pepper = PEPPER,
  ) =>
    derivePasswordMasterKey(password, salt, params, {
      pepper,
      argon2OutputKey: ARGON2_OUTPUT_KEY,
    });

  it('outputs 32 bytes and is deterministic for the same inputs', async () => {
    const first = await derive();
    const second = await derive();
    expect(first.length).toBe(DERIVED_KEY_BYTES);
    expect(first.equals(second)).toBe(true);
  });

  it('is argon2id(NFC password, salt, secret = pepper) with the given cost', async () => {
    const expected = await argon2.hash(Buffer.from('pässwörd', 'utf8'), {
      type: argon2.argon2id,
      raw: true,
      salt: SALT,
      secret: PEPPER,
      hashLength: 32,
      memoryCost: FAST.memoryKiB,
      timeCost: FAST.iterations,
      parallelism: FAST.parallelism,
    });
    expect((await derive('pässwörd')).equals(expected)).toBe(true);
  });

  it('differs when the password differs (including by one character or case)', async () => {
    const base = await derive('password1');
    expect(base.equals(await derive('password2'))).toBe(false);
    expect(base.equals(await derive('Password1'))).toBe(false);
    expect(base.equals(await derive('password1 '))).toBe(false);
  });

  it('differs when the salt differs', async () => {
    const otherSalt = Buffer.from(SALT);
    otherSalt[15] ^= 1;
    expect((await derive()).equals(await derive(undefined, otherSalt))).toBe(
      false,
    );
  });

  it.each<[string, Argon2Params]>([
    ['memory', { ...FAST, memoryKiB: 2048 }],
    ['iterations', { ...FAST, iterations: 2 }],
    ['parallelism', { ...FAST, parallelism: 2 }],
  ])('differs when the argon2 %s parameter differs', async (_name, params) => {
    expect(
      (await derive()).equals(await derive(undefined, undefined, params)),
    ).toBe(false);
  });

  it('differs when the pepper differs or is absent', async () => {
    const base = await derive();
    const otherPepper = Buffer.from(PEPPER);
    otherPepper[0] ^= 1;
    expect(
      base.equals(await derive(undefined, undefined, undefined, otherPepper)),
    ).toBe(false);
    expect(
      base.equals(
        await derive(undefined, undefined, undefined, Buffer.alloc(0)),
      ),
    ).toBe(false);
  });

  it('NFC-normalises: composed and decomposed "é" give the same key', async () => {
    const composed = 'caf\u00e9-r\u00e9sum\u00e9';
    const decomposed = 'cafe\u0301-re\u0301sume\u0301';
    expect(composed).not.toBe(decomposed);
    const key = await derive(composed);
    expect(key.equals(await derive(decomposed))).toBe(true);
    // Without normalisation the decomposed bytes would hash differently: the test can fail.
    const raw = await argon2.hash(Buffer.from(decomposed, 'utf8'), {
      type: argon2.argon2id,
      raw: true,
      salt: SALT,
      secret: PEPPER,
      hashLength: 32,
      memoryCost: FAST.memoryKiB,
      timeCost: FAST.iterations,
      parallelism: FAST.parallelism,
    });
    expect(key.equals(raw)).toBe(false);
  });

  it('does not truncate long passwords', async () => {
    const long = 'x'.repeat(200);
    expect((await derive(long)).equals(await derive(`${long}y`))).toBe(false);
  });

  it.each([0, 8, 15])(
    'refuses a %d-byte salt with InvalidCryptoInputError',
    async (length) => {
      await expect(derive(undefined, Buffer.alloc(length, 1))).rejects.toThrow(
        InvalidCryptoInputError,
      );
    },
  );

  it('accepts salts of 16 bytes and longer', async () => {
    expect((await derive(undefined, Buffer.alloc(16, 1))).length).toBe(32);
    expect((await derive(undefined, Buffer.alloc(32, 1))).length).toBe(32);
  });

  it('works with OWASP_MINIMUM_ARGON2_PARAMS (19 MiB, t=2, p=1)', async () => {
    expect(OWASP_MINIMUM_ARGON2_PARAMS).toEqual({
      memoryKiB: 19456,
      iterations: 2,
      parallelism: 1,
    });
    expect(Object.isFrozen(OWASP_MINIMUM_ARGON2_PARAMS)).toBe(true);
    const key = await derive(undefined, undefined, OWASP_MINIMUM_ARGON2_PARAMS);
    expect(key.length).toBe(32);
    expect(key.equals(await derive())).toBe(false);
  });
});

/** argon2id of the test password at FAST cost, from the public `argon2` API (ordinary memory). */
const referenceArgon2 = (
  password = 'correct horse battery staple',
  params: Argon2Params = FAST,
  salt = SALT,
  pepper = PEPPER,
): Promise<Buffer> =>
  argon2.hash(Buffer.from(password.normalize('NFC'), 'utf8'), {
    type: argon2.argon2id,
    raw: true,
    salt,
    secret: pepper,
    hashLength: 32,
    memoryCost: params.memoryKiB,
    timeCost: params.iterations,
    parallelism: params.parallelism,
  });

describe('derivePasswordMasterKey, version 2: HMAC-SHA256(argon2-output key, argon2id output)', () => {
  const V2: Argon2Params = { ...FAST, version: 2 };
  const derive = (
    password = 'correct horse battery staple',
    params = V2,
    argon2OutputKey = ARGON2_OUTPUT_KEY,
    pepper = PEPPER,
  ) =>
    derivePasswordMasterKey(password, SALT, params, {
      pepper,
      argon2OutputKey,
    });

  it('is the current version', () => {
    expect(CURRENT_PASSWORD_KDF_VERSION).toBe(2);
  });

  it('reproduces a fixed vector (argon2 npm, then node:crypto createHmac, computed outside this module)', async () => {
    // argon2id("correct horse battery staple", salt 10..1f, secret PEPPER, m=1024 t=1 p=1, 32 B)
    const argon2Output =
      'caa548a8d5ddeed106694eba4839c5a0128db10f3e2afb0678be72cafd5c11d0';
    expect((await referenceArgon2()).toString('hex')).toBe(argon2Output);
    expect(
      createHmac('sha256', ARGON2_OUTPUT_KEY)
        .update(Buffer.from(argon2Output, 'hex'))
        .digest('hex'),
    ).toBe('4e7871888deb4fcc8d3660ff9f325da72e8b192d9e757dc1b46deee0271be3da');
    const key = await derive();
    expect(key.toString('hex')).toBe(
      '4e7871888deb4fcc8d3660ff9f325da72e8b192d9e757dc1b46deee0271be3da',
    );
  });

  it('is createHmac(key, argon2id output) for other inputs too (NFC password, another cost)', async () => {
    const params: Argon2Params = {
      memoryKiB: 2048,
      iterations: 2,
      parallelism: 2,
      version: 2,
    };
    const expected = createHmac('sha256', ARGON2_OUTPUT_KEY)
      .update(await referenceArgon2('cafe\u0301 pässwörd', params))
      .digest();
    expect((await derive('caf\u00e9 pässwörd', params)).equals(expected)).toBe(
      true,
    );
  });

  it('differs from version 1 for the same password, salt, cost and pepper', async () => {
    const v1 = await derivePasswordMasterKey(
      'correct horse battery staple',
      SALT,
      FAST,
      { pepper: PEPPER, argon2OutputKey: ARGON2_OUTPUT_KEY },
    );
    const v1Explicit = await derivePasswordMasterKey(
      'correct horse battery staple',
      SALT,
      { ...FAST, version: 1 },
      { pepper: PEPPER, argon2OutputKey: ARGON2_OUTPUT_KEY },
    );
    expect(v1.equals(v1Explicit)).toBe(true);
    expect(v1.equals(await referenceArgon2())).toBe(true);
    expect((await derive()).equals(v1)).toBe(false);
    // So do the verifier and the KEK split from it.
    const a = splitPasswordMasterKey(v1);
    const b = splitPasswordMasterKey(await derive());
    expect(a.authVerifier.equals(b.authVerifier)).toBe(false);
    expect(a.kek.equals(b.kek)).toBe(false);
  });

  it('depends on the argon2-output key (one bit), and still on the pepper and the password', async () => {
    const base = await derive();
    const otherKey = Buffer.from(ARGON2_OUTPUT_KEY);
    otherKey[31] ^= 1;
    expect(base.equals(await derive(undefined, undefined, otherKey))).toBe(
      false,
    );
    const otherPepper = Buffer.from(PEPPER);
    otherPepper[0] ^= 1;
    expect(
      base.equals(await derive(undefined, undefined, undefined, otherPepper)),
    ).toBe(false);
    expect(base.equals(await derive('correct horse battery stapler'))).toBe(
      false,
    );
    expect(base.equals(await derive())).toBe(true);
  });

  it('does not use the argon2-output key in version 1', async () => {
    const v1 = (argon2OutputKey: Buffer) =>
      derivePasswordMasterKey('pw', SALT, FAST, {
        pepper: PEPPER,
        argon2OutputKey,
      });
    expect(
      (await v1(ARGON2_OUTPUT_KEY)).equals(await v1(Buffer.alloc(32, 0xff))),
    ).toBe(true);
  });

  it('returns the key in locked memory (both versions)', async () => {
    expect(isSecureBuffer(await derive())).toBe(true);
    expect(isSecureBuffer(await derive(undefined, FAST))).toBe(true);
  });

  it.each([0, 16, 31, 33])(
    'refuses a %d-byte argon2-output key in version 2',
    async (length) => {
      await expect(
        derive(undefined, undefined, Buffer.alloc(length, 1)),
      ).rejects.toThrow(InvalidCryptoInputError);
    },
  );

  it.each([0, 3, 1.5, '2'])(
    'refuses an unknown stored version (%p)',
    async (version) => {
      await expect(
        derive(undefined, { ...FAST, version: version as 2 }),
      ).rejects.toThrow(InvalidCryptoInputError);
    },
  );
});

describe('passwordKdfVersion', () => {
  it('reads an absent version as 1, and 1 and 2 as themselves', () => {
    expect(passwordKdfVersion({ ...FAST })).toBe(1);
    expect(passwordKdfVersion({ version: 1 })).toBe(1);
    expect(passwordKdfVersion({ version: 2 })).toBe(2);
  });
});

describe('keyArgon2Output', () => {
  it('is HMAC-SHA256(key, output) in locked memory, and wipes the argon2 output it was given', () => {
    const output = run(0x30, 32);
    const expected = createHmac('sha256', ARGON2_OUTPUT_KEY)
      .update(output)
      .digest();
    const keyed = keyArgon2Output(output, ARGON2_OUTPUT_KEY);
    expect(keyed.equals(expected)).toBe(true);
    expect(isSecureBuffer(keyed)).toBe(true);
    expect(output.equals(Buffer.alloc(32))).toBe(true);
  });
});

describe('generateSalt', () => {
  it('returns fresh 16-byte salts', () => {
    const a = generateSalt();
    const b = generateSalt();
    expect(a.length).toBe(KDF_SALT_BYTES);
    expect(a.equals(b)).toBe(false);
  });
});

describe('splitPasswordMasterKey', () => {
  const master = run(0x40, 32);

  it('verifier = SHA-256(HKDF(master, "password/auth")) and kek = HKDF(master, "password/kek")', () => {
    const { authVerifier, kek } = splitPasswordMasterKey(master);
    const authKey = labelledHkdf(master, 'password/auth');
    expect(
      authVerifier.equals(createHash('sha256').update(authKey).digest()),
    ).toBe(true);
    expect(kek.equals(labelledHkdf(master, 'password/kek'))).toBe(true);
    expect(authVerifier.length).toBe(32);
    expect(kek.length).toBe(32);
  });

  it('verifier, KEK and master key are pairwise different, and the verifier is not the raw auth key', () => {
    const { authVerifier, kek } = splitPasswordMasterKey(master);
    expect(authVerifier.equals(kek)).toBe(false);
    expect(authVerifier.equals(master)).toBe(false);
    expect(kek.equals(master)).toBe(false);
    expect(authVerifier.equals(labelledHkdf(master, 'password/auth'))).toBe(
      false,
    );
  });

  it('is deterministic, differs per master key, and leaves the master key intact', () => {
    const copy = Buffer.from(master);
    const first = splitPasswordMasterKey(master);
    expect(master.equals(copy)).toBe(true);
    const second = splitPasswordMasterKey(master);
    expect(first.authVerifier.equals(second.authVerifier)).toBe(true);
    expect(first.kek.equals(second.kek)).toBe(true);
    const other = splitPasswordMasterKey(run(0x41, 32));
    expect(other.authVerifier.equals(first.authVerifier)).toBe(false);
    expect(other.kek.equals(first.kek)).toBe(false);
  });
});

describe('verifiersMatch', () => {
  const verifier = run(0x50, 32);

  it('returns true for equal verifiers', () => {
    expect(verifiersMatch(verifier, Buffer.from(verifier))).toBe(true);
  });

  it('returns false when any single bit differs', () => {
    for (let bit = 0; bit < verifier.length * 8; bit += 13) {
      const other = Buffer.from(verifier);
      other[bit >> 3] ^= 1 << (bit & 7);
      expect(verifiersMatch(verifier, other)).toBe(false);
    }
  });

  it('returns false (instead of throwing like timingSafeEqual) for different lengths', () => {
    expect(verifiersMatch(verifier, verifier.subarray(0, 31))).toBe(false);
    expect(
      verifiersMatch(verifier, Buffer.concat([verifier, Buffer.from([0])])),
    ).toBe(false);
    expect(verifiersMatch(verifier, Buffer.alloc(0))).toBe(false);
  });
});
