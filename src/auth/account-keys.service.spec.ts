import { createHmac, randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { AppMetrics } from '../common/metrics/app-metrics';
import type { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';
import {
  Argon2Params,
  derivePasswordMasterKey,
  generateSalt,
  splitPasswordMasterKey,
} from '@vault-pii/nest-encryption/crypto';
import { deriveServerSecrets } from '../crypto/server-secrets';
import { AccountKeysService } from './account-keys.service';
import { PasswordKdf } from './kdf/password-kdf';

/** Cheap argon2id cost for the accounts these tests make by hand (verification uses the stored cost). */
const FAST = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const PASSWORD = 'correct horse battery staple';

describe('AccountKeysService and the password KDF versions', () => {
  const secrets = deriveServerSecrets(randomBytes(32));
  const config = {
    serverSecrets: secrets,
    argon2MemoryKiB: 19_456,
    argon2Iterations: 2,
    argon2Parallelism: 1,
    limits: { kdfQueue: 64, kdfQueueTimeoutMs: 3000 },
  } as AppConfig;
  const serverKeys = new ServerKeys(config);
  const kdf = new PasswordKdf(serverKeys, config, new AppMetrics());
  const keys = new AccountKeysService(serverKeys, config, kdf);

  /** A stored account as the given KDF version makes it (`version: undefined` is a version-1 row). */
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
      user: { authVerifier, kdfSalt, kdfParams: params },
      kek: Buffer.from(kek),
    };
  }

  afterEach(() => jest.restoreAllMocks());

  it('writes new passwords with the current version (2) at the configured cost', async () => {
    expect(keys.argon2Params).toEqual({
      memoryKiB: 19_456,
      iterations: 2,
      parallelism: 1,
      version: 2,
    });
    const material = await keys.derivePasswordMaterial(PASSWORD);
    expect(material.kdfParams).toEqual({
      memoryKiB: 19_456,
      iterations: 2,
      parallelism: 1,
      version: 2,
    });
    // Independently: the verifier is that of HMAC(argon2-output key, argon2id output).
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
  });

  it.each<[string, Argon2Params]>([
    ['version 1 (no version stored)', FAST],
    ['version 1 (stored as 1)', { ...FAST, version: 1 }],
    ['version 2', { ...FAST, version: 2 }],
  ])(
    'verifies a %s account with one argon2id call: its KEK for the right password, nothing for a wrong one',
    async (_name, params) => {
      const { user, kek } = await account(params);
      const derive = jest.spyOn(kdf, 'deriveMasterKey');
      const opened = await keys.verifyPassword(user, PASSWORD);
      expect(derive).toHaveBeenCalledTimes(1);
      expect(opened?.equals(kek)).toBe(true);
      expect(await keys.verifyPassword(user, `${PASSWORD}!`)).toBeUndefined();
      expect(derive).toHaveBeenCalledTimes(2);
    },
  );

  it('does not verify a version-1 account as version 2, nor a version-2 account as version 1', async () => {
    const v1 = await account(FAST);
    const v2 = await account({ ...FAST, version: 2 });
    expect(
      await keys.verifyPassword(
        { ...v1.user, kdfParams: { ...FAST, version: 2 } },
        PASSWORD,
      ),
    ).toBeUndefined();
    expect(
      await keys.verifyPassword({ ...v2.user, kdfParams: FAST }, PASSWORD),
    ).toBeUndefined();
  });

  it('needs an upgrade for version 1 (absent or 1) even at the configured cost, and not for version 2 at it', () => {
    const configured = { memoryKiB: 19_456, iterations: 2, parallelism: 1 };
    expect(keys.needsUpgrade(configured)).toBe(true);
    expect(keys.needsUpgrade({ ...configured, version: 1 })).toBe(true);
    expect(keys.needsUpgrade({ ...configured, version: 2 })).toBe(false);
    expect(
      keys.needsUpgrade({
        ...configured,
        memoryKiB: 65_536,
        iterations: 4,
        version: 2,
      }),
    ).toBe(false);
  });

  it('still needs an upgrade for a version-2 account below the configured cost', () => {
    expect(
      keys.needsUpgrade({
        memoryKiB: 16_384,
        iterations: 2,
        parallelism: 1,
        version: 2,
      }),
    ).toBe(true);
    expect(
      keys.needsUpgrade({
        memoryKiB: 19_456,
        iterations: 1,
        parallelism: 1,
        version: 2,
      }),
    ).toBe(true);
  });

  it('spends one argon2id call of the current version on an unknown account', async () => {
    const derive = jest.spyOn(kdf, 'deriveMasterKey');
    await keys.spendDummyVerification(PASSWORD);
    expect(derive).toHaveBeenCalledTimes(1);
    expect(derive.mock.calls[0][2]).toEqual(keys.argon2Params);
  });
});
