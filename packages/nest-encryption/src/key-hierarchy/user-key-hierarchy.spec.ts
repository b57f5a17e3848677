import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import {
  Argon2Params,
  InvalidCryptoInputError,
  derivePasswordMasterKey,
  generateSalt,
  isSecureBuffer,
  splitPasswordMasterKey,
} from '../crypto';
import {
  ENCRYPTION_SECRET_LABELS,
  deriveEncryptionSecrets,
} from './encryption-secrets';
import { UserKeyHierarchy } from './user-key-hierarchy';

/** Cheap argon2id cost for accounts made by hand (verification uses the stored cost). */
const FAST = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const PASSWORD = 'correct horse battery staple';
const MASTER = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

const hkdfLabel = (info: string): Buffer =>
  Buffer.from(
    hkdfSync('sha256', MASTER, Buffer.alloc(0), `vault-pii/v1/${info}`, 32),
  );

describe('deriveEncryptionSecrets', () => {
  it('derives each secret under its documented HKDF label (changing one would orphan stored data)', () => {
    const secrets = deriveEncryptionSecrets(MASTER);
    expect(ENCRYPTION_SECRET_LABELS).toEqual({
      pepper: 'server/argon2-pepper',
      argon2OutputKey: 'server/argon2-output',
      blindIndexKey: 'server/blind-index',
      vaultKey: 'server/vault',
    });
    expect(secrets.pepper.equals(hkdfLabel('server/argon2-pepper'))).toBe(true);
    expect(
      secrets.argon2OutputKey.equals(hkdfLabel('server/argon2-output')),
    ).toBe(true);
    expect(secrets.blindIndexKey.equals(hkdfLabel('server/blind-index'))).toBe(
      true,
    );
    expect(secrets.vaultKey.equals(hkdfLabel('server/vault'))).toBe(true);
  });

  it('keeps every secret in locked memory and leaves the master key intact', () => {
    const copy = Buffer.from(MASTER);
    const secrets = deriveEncryptionSecrets(MASTER);
    const { pepper, argon2OutputKey, blindIndexKey, vaultKey } = secrets;
    for (const secret of [pepper, argon2OutputKey, blindIndexKey, vaultKey])
      expect(isSecureBuffer(secret)).toBe(true);
    expect(MASTER.equals(copy)).toBe(true);
  });

  it.each([0, 16, 31, 33])(
    'refuses a %d-byte master key with InvalidCryptoInputError',
    (length) => {
      expect(() => deriveEncryptionSecrets(Buffer.alloc(length, 7))).toThrow(
        InvalidCryptoInputError,
      );
    },
  );
});

describe('UserKeyHierarchy', () => {
  const secrets = deriveEncryptionSecrets(randomBytes(32));
  const hierarchy = new UserKeyHierarchy(secrets);

  /** A stored account as the given KDF version makes it. */
  async function account(params: Argon2Params, password = PASSWORD) {
    const kdfSalt = generateSalt();
    const masterKey = await derivePasswordMasterKey(
      password,
      kdfSalt,
      params,
      secrets,
    );
    const { authVerifier, kek } = splitPasswordMasterKey(masterKey);
    return {
      stored: { authVerifier, kdfSalt, kdfParams: params },
      kek: Buffer.from(kek),
    };
  }

  it.each(['pepper', 'argon2OutputKey'] as const)(
    'refuses a %s that is not 32 bytes, naming the option and not its value',
    (name) => {
      const bad = Buffer.alloc(16, 0xab);
      const make = () => new UserKeyHierarchy({ ...secrets, [name]: bad });
      expect(make).toThrow(
        `UserKeyHierarchy: ${name} must be a Buffer of 32 bytes`,
      );
      expect(make).not.toThrow(/abab/);
    },
  );

  it("raises the configured cost to OWASP's minimum, field by field, and writes the current KDF version", () => {
    expect(hierarchy.argon2Params).toEqual({
      memoryKiB: 19_456,
      iterations: 2,
      parallelism: 1,
      version: 2,
    });
    const configured = new UserKeyHierarchy({
      ...secrets,
      argon2Params: { memoryKiB: 65_536, iterations: 1, parallelism: 4 },
    });
    expect(configured.argon2Params).toEqual({
      memoryKiB: 65_536,
      iterations: 2,
      parallelism: 4,
      version: 2,
    });
  });

  it('derives new password material as HMAC(argon2-output key, argon2id(password, secret = pepper)) split into verifier and KEK', async () => {
    const material = await hierarchy.derivePasswordMaterial(PASSWORD);
    expect(material.kdfParams).toEqual(hierarchy.argon2Params);
    const output = await argon2.hash(Buffer.from(PASSWORD), {
      type: argon2.argon2id,
      raw: true,
      salt: material.kdfSalt,
      secret: Buffer.from(secrets.pepper),
      hashLength: 32,
      memoryCost: 19_456,
      timeCost: 2,
      parallelism: 1,
    });
    const expected = splitPasswordMasterKey(
      createHmac('sha256', Buffer.from(secrets.argon2OutputKey))
        .update(output)
        .digest(),
    );
    expect(material.authVerifier.equals(expected.authVerifier)).toBe(true);
    expect(material.kek.equals(expected.kek)).toBe(true);
    expect(isSecureBuffer(material.kek)).toBe(true);
  });

  it.each<[string, Argon2Params]>([
    ['version 1', FAST],
    ['version 2', { ...FAST, version: 2 }],
  ])(
    'verifies a %s account: its KEK for the right password, undefined for a wrong one',
    async (_name, params) => {
      const { stored, kek } = await account(params);
      expect(
        (await hierarchy.verifyPassword(stored, PASSWORD))?.equals(kek),
      ).toBe(true);
      expect(
        await hierarchy.verifyPassword(stored, `${PASSWORD}!`),
      ).toBeUndefined();
    },
  );

  it('runs every argon2id call through the deriveMasterKey option when one is given', async () => {
    const calls: Argon2Params[] = [];
    const queued = new UserKeyHierarchy({
      ...secrets,
      deriveMasterKey: (password, salt, params) => {
        calls.push(params);
        return derivePasswordMasterKey(password, salt, params, secrets);
      },
    });
    const { stored, kek } = await account({ ...FAST, version: 2 });
    expect((await queued.verifyPassword(stored, PASSWORD))?.equals(kek)).toBe(
      true,
    );
    await queued.spendDummyVerification(PASSWORD);
    expect(calls).toEqual([stored.kdfParams, queued.argon2Params]);
  });

  it('returns the password/idempotency branch of the same argon2id output, with one call, beside unchanged verifier and KEK', async () => {
    let calls = 0;
    let master: Buffer | undefined;
    const counted = new UserKeyHierarchy({
      ...secrets,
      deriveMasterKey: async (password, salt, params) => {
        calls++;
        const key = await derivePasswordMasterKey(
          password,
          salt,
          params,
          secrets,
        );
        master = Buffer.from(key);
        return key;
      },
    });
    const material =
      await counted.derivePasswordMaterialWithIdempotencySecret(PASSWORD);
    expect(calls).toBe(1);
    const expected = splitPasswordMasterKey(master!);
    expect(material.authVerifier.equals(expected.authVerifier)).toBe(true);
    expect(material.kek.equals(expected.kek)).toBe(true);
    const labelled = Buffer.from(
      hkdfSync(
        'sha256',
        master!,
        Buffer.alloc(0),
        'vault-pii/v1/password/idempotency',
        32,
      ),
    );
    expect(material.idempotencySecret.equals(labelled)).toBe(true);
    expect(isSecureBuffer(material.idempotencySecret)).toBe(true);
    for (const sibling of [material.kek, material.authVerifier, master!])
      expect(material.idempotencySecret.equals(sibling)).toBe(false);

    // Verifying reproduces the same secret from the stored salt and cost, in one call.
    const verified = await counted.verifyPasswordWithIdempotencySecret(
      material,
      PASSWORD,
    );
    expect(calls).toBe(2);
    expect(verified?.kek.equals(material.kek)).toBe(true);
    expect(verified?.idempotencySecret.equals(labelled)).toBe(true);
    expect(
      await counted.verifyPasswordWithIdempotencySecret(
        material,
        `${PASSWORD}!`,
      ),
    ).toBeUndefined();
    expect(calls).toBe(3);
  });

  it('needs an upgrade below the configured cost or KDF version, and not at or above it', () => {
    const configured = { memoryKiB: 19_456, iterations: 2, parallelism: 1 };
    expect(hierarchy.needsUpgrade(configured)).toBe(true);
    expect(hierarchy.needsUpgrade({ ...configured, version: 1 })).toBe(true);
    expect(hierarchy.needsUpgrade({ ...configured, version: 2 })).toBe(false);
    expect(
      hierarchy.needsUpgrade({ ...configured, iterations: 1, version: 2 }),
    ).toBe(true);
    expect(
      hierarchy.needsUpgrade({ ...configured, memoryKiB: 65_536, version: 2 }),
    ).toBe(false);
  });

  describe('data keys', () => {
    const passwordKek = randomBytes(32);
    const recovery = hierarchy.newRecoveryMaterial();
    const user = { id: 'owner-1', activeKeyVersion: 2 };
    const v1 = hierarchy.newDataKey(user.id, 1, passwordKek, recovery.kek);
    const v2 = hierarchy.newDataKey(user.id, 2, passwordKek, recovery.kek);
    const rows = [v1.wrapped, v2.wrapped];

    it('unwraps every version with the password KEK or the recovery KEK', () => {
      for (const [kek, wrappedBy] of [
        [passwordKek, 'password'],
        [
          hierarchy.recoveryKek(recovery.recoveryCode, recovery.recoverySalt),
          'recovery',
        ],
      ] as const) {
        const keyring = hierarchy.unwrapKeyring(user, rows, kek, wrappedBy);
        expect(keyring?.activeVersion).toBe(2);
        expect(keyring?.key(1)?.equals(v1.dataKey)).toBe(true);
        expect(keyring?.key(2)?.equals(v2.dataKey)).toBe(true);
        keyring?.zero();
      }
    });

    it('re-derives the recovery KEK from the code and salt, whatever its case or separators', () => {
      const spaced = recovery.recoveryCode
        .toLowerCase()
        .replace(/(.{4})/g, '$1 ');
      expect(
        hierarchy
          .recoveryKek(spaced, recovery.recoverySalt)
          .equals(recovery.kek),
      ).toBe(true);
    });

    it('refuses a malformed recovery code with InvalidCryptoInputError', () => {
      expect(() =>
        hierarchy.recoveryKek('not a recovery code', recovery.recoverySalt),
      ).toThrow(InvalidCryptoInputError);
    });

    it('opens nothing with a wrong KEK, the other wrap, or another owner’s id', () => {
      expect(
        hierarchy.unwrapKeyring(user, rows, randomBytes(32), 'password'),
      ).toBeUndefined();
      expect(
        hierarchy.unwrapKeyring(user, rows, passwordKek, 'recovery'),
      ).toBeUndefined();
      expect(
        hierarchy.unwrapKeyring(
          { ...user, id: 'owner-2' },
          rows,
          passwordKek,
          'password',
        ),
      ).toBeUndefined();
    });

    it('re-wraps a data key under a new password KEK (a password change re-encrypts no data)', () => {
      const newKek = randomBytes(32);
      const rewrapped = hierarchy.wrap(
        user.id,
        1,
        v1.dataKey,
        newKek,
        recovery.kek,
      );
      const keyring = hierarchy.unwrapKeyring(
        { id: user.id, activeKeyVersion: 1 },
        [rewrapped],
        newKek,
        'password',
      );
      expect(keyring?.activeKey().equals(v1.dataKey)).toBe(true);
      keyring?.zero();
    });

    it('throws, and keeps no key, when the active version is not among the rows', () => {
      expect(() =>
        hierarchy.unwrapKeyring(
          { ...user, activeKeyVersion: 3 },
          rows,
          passwordKek,
          'password',
        ),
      ).toThrow('no key for its active version 3');
    });
  });
});
