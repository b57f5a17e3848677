import { createHash, createHmac, hkdfSync } from 'node:crypto';
import argon2 from 'argon2';
import request from 'supertest';
import { PasswordKdf } from '../src/auth/kdf/password-kdf';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { ServerKeys } from '../src/config/server-keys';
import {
  AeadAlgorithm,
  unwrapDataKey,
  wrapDataKey,
  Argon2Params,
  derivePasswordMasterKey,
  splitPasswordMasterKey,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import type { RotatedKeysDto } from '../src/key-rotation/dto/rotated-keys.dto';
import type { ProfileDto } from '../src/profile/dto/profile.dto';
import {
  bearer,
  login,
  LoggedInUser,
  registerUser,
  RegisteredUser,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/wait-until';

/**
 * Password KDF version 2 (issue 12): the master key is HMAC-SHA256(argon2-output key, argon2id
 * output), so a copy of argon2's output left in a threadpool thread's registers or in freed heap
 * yields no key. Accounts made before it (version 1: no `version` in `kdf_params`, the output
 * itself is the master key) still verify, and move to version 2 in their next login. Every
 * other password check (password change, key rotation, deletion) accepts both; recovery and
 * password change write version 2.
 *
 * A version-1 account is made genuinely: registered through the API, then its verifier,
 * `kdf_params` and password wraps rewritten to what version 1 produces, from the app's own
 * server keys.
 */
describe('password KDF version 2, and the upgrade of version-1 accounts at login', () => {
  const PROFILE = { fullName: 'Vera Version-One', phone: '+44 20 7946 0101' };
  let t: TestApp;
  const http = () => t.app.getHttpServer();

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());
  afterEach(() => jest.restoreAllMocks());

  interface StoredAccount {
    auth_verifier: Buffer;
    kdf_salt: Buffer;
    kdf_params: Argon2Params;
    version: number;
  }
  const stored = async (userId: string): Promise<StoredAccount> =>
    (
      await t.dataSource.query<StoredAccount[]>(
        'SELECT auth_verifier, kdf_salt, kdf_params, version FROM users WHERE id = $1',
        [userId],
      )
    )[0];
  const wrapsOf = async (
    userId: string,
  ): Promise<{ key_version: number; wrapped_by_password: Buffer }[]> =>
    t.dataSource.query(
      'SELECT key_version, wrapped_by_password FROM user_data_keys WHERE user_id = $1 ORDER BY key_version',
      [userId],
    );

  /** The password's verifier and KEK under the account's stored salt and `params` (ordinary copies). */
  async function passwordKeys(
    password: string,
    salt: Buffer,
    params: Argon2Params,
  ): Promise<{ authVerifier: Buffer; kek: Buffer }> {
    const masterKey = await derivePasswordMasterKey(
      password,
      salt,
      params,
      t.app.get(ServerKeys),
    );
    const { authVerifier, kek } = splitPasswordMasterKey(masterKey);
    const copy = { authVerifier, kek: Buffer.from(kek) };
    zeroBuffer(masterKey, kek);
    return copy;
  }

  /** Every data key of the account, opened with the KEK of `password` under the stored row (hex, by version). */
  async function dataKeysOf(
    userId: string,
    password: string,
  ): Promise<Map<number, string>> {
    const row = await stored(userId);
    const { kek } = await passwordKeys(password, row.kdf_salt, row.kdf_params);
    const keys = new Map<number, string>();
    for (const wrap of await wrapsOf(userId)) {
      const dataKey = unwrapDataKey(wrap.wrapped_by_password, kek, {
        userId,
        keyVersion: wrap.key_version,
        wrappedBy: 'password',
      });
      keys.set(wrap.key_version, dataKey.toString('hex'));
      zeroBuffer(dataKey);
    }
    return keys;
  }

  /**
   * Rewrites a version-2 account as version 1 would have made it: the same salt and cost, no
   * `version` in `kdf_params`, the verifier and the password wraps of argon2id's output itself.
   * The recovery wraps stay (they never depended on the password KDF).
   * @returns the account's data keys (hex, by version), to compare with after the upgrade.
   */
  async function makeVersion1(
    user: RegisteredUser,
  ): Promise<Map<number, string>> {
    const row = await stored(user.userId);
    expect(row.kdf_params.version).toBe(2);
    const dataKeys = await dataKeysOf(user.userId, user.password);
    const { version: _current, ...version1Params } = row.kdf_params;
    const v1 = await passwordKeys(user.password, row.kdf_salt, version1Params);
    await t.dataSource.transaction(async (manager) => {
      await manager.query(
        'UPDATE users SET auth_verifier = $1, kdf_params = $2::jsonb WHERE id = $3',
        [v1.authVerifier, JSON.stringify(version1Params), user.userId],
      );
      for (const [keyVersion, hex] of dataKeys) {
        const wrapped = wrapDataKey(
          Buffer.from(hex, 'hex'),
          v1.kek,
          { userId: user.userId, keyVersion, wrappedBy: 'password' },
          AeadAlgorithm.XChaCha20Poly1305,
        );
        await manager.query(
          'UPDATE user_data_keys SET wrapped_by_password = $1 WHERE user_id = $2 AND key_version = $3',
          [wrapped, user.userId, keyVersion],
        );
      }
    });
    const after = await stored(user.userId);
    expect(after.kdf_params).toEqual({
      memoryKiB: row.kdf_params.memoryKiB,
      iterations: row.kdf_params.iterations,
      parallelism: row.kdf_params.parallelism,
    });
    expect('version' in after.kdf_params).toBe(false);
    return dataKeys;
  }

  const argon2Calls = () =>
    jest.spyOn(t.app.get(PasswordKdf), 'deriveMasterKey');
  const profileOf = async (session: { accessToken: string }) =>
    bodyOf<ProfileDto>(
      await request(http())
        .get('/v1/me/profile')
        .set(...bearer(session.accessToken)),
    );
  const attemptLogin = (email: string, password: string) =>
    request(http()).post('/v1/auth/login').send({ email, password });

  it('registers new accounts as version 2: HMAC(argon2-output key, argon2id output), recomputed here with node:crypto', async () => {
    const user = await registerUser(http());
    const row = await stored(user.userId);
    expect(row.kdf_params).toEqual({
      memoryKiB: 19456,
      iterations: 2,
      parallelism: 1,
      version: 2,
    });
    const keys = t.app.get(ServerKeys);
    const output = await argon2.hash(Buffer.from(user.password, 'utf8'), {
      type: argon2.argon2id,
      raw: true,
      salt: row.kdf_salt,
      secret: Buffer.from(keys.pepper),
      hashLength: 32,
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
    });
    const masterKey = createHmac('sha256', Buffer.from(keys.argon2OutputKey))
      .update(output)
      .digest();
    const authKey = Buffer.from(
      hkdfSync(
        'sha256',
        masterKey,
        Buffer.alloc(0),
        'vault-pii/v1/password/auth',
        32,
      ),
    );
    expect(
      createHash('sha256').update(authKey).digest().equals(row.auth_verifier),
    ).toBe(true);
    // Not the verifier version 1 would have stored.
    const version1AuthKey = Buffer.from(
      hkdfSync(
        'sha256',
        output,
        Buffer.alloc(0),
        'vault-pii/v1/password/auth',
        32,
      ),
    );
    expect(
      createHash('sha256')
        .update(version1AuthKey)
        .digest()
        .equals(row.auth_verifier),
    ).toBe(false);
  });

  it('logs a version-1 account in, upgrades it to version 2 in that login with the data intact; the next login is one argon2id call', async () => {
    const user = await registerUser(http(), { profile: PROFILE });
    const dataKeys = await makeVersion1(user);
    const before = await stored(user.userId);
    // Genuinely version 1: the stored verifier is that of argon2id's output itself.
    const output = await argon2.hash(Buffer.from(user.password, 'utf8'), {
      type: argon2.argon2id,
      raw: true,
      salt: before.kdf_salt,
      secret: Buffer.from(t.app.get(ServerKeys).pepper),
      hashLength: 32,
      memoryCost: before.kdf_params.memoryKiB,
      timeCost: before.kdf_params.iterations,
      parallelism: before.kdf_params.parallelism,
    });
    const authKey = Buffer.from(
      hkdfSync(
        'sha256',
        output,
        Buffer.alloc(0),
        'vault-pii/v1/password/auth',
        32,
      ),
    );
    expect(
      createHash('sha256')
        .update(authKey)
        .digest()
        .equals(before.auth_verifier),
    ).toBe(true);

    const calls = argon2Calls();
    const session = await login(http(), user);
    // The version-1 check, then the version-2 derivation of the upgrade (as for a cost upgrade).
    expect(calls).toHaveBeenCalledTimes(2);
    expect(calls.mock.calls[0][2]).not.toHaveProperty('version');
    expect(calls.mock.calls[1][2]).toMatchObject({ version: 2 });

    const upgraded = await stored(user.userId);
    expect(upgraded.kdf_params).toEqual({
      memoryKiB: 19456,
      iterations: 2,
      parallelism: 1,
      version: 2,
    });
    expect(upgraded.kdf_salt.equals(before.kdf_salt)).toBe(false);
    expect(upgraded.auth_verifier.equals(before.auth_verifier)).toBe(false);
    expect(upgraded.version).toBe(before.version + 1);
    // The same data keys, now wrapped under the version-2 KEK.
    expect(await dataKeysOf(user.userId, user.password)).toEqual(dataKeys);
    expect(await profileOf(session)).toMatchObject(PROFILE);

    calls.mockClear();
    const again = await login(http(), user);
    expect(calls).toHaveBeenCalledTimes(1);
    expect(calls.mock.calls[0][2]).toMatchObject({ version: 2 });
    expect((await stored(user.userId)).version).toBe(upgraded.version);
    expect(await profileOf(again)).toMatchObject(PROFILE);
  });

  it('answers a wrong password with 401 for a version-1 account (which stays version 1) and for a version-2 one', async () => {
    const version1 = await registerUser(http());
    await makeVersion1(version1);
    const before = await stored(version1.userId);
    const version2 = await registerUser(http());

    const calls = argon2Calls();
    const wrong1 = await attemptLogin(
      version1.email,
      'not the right passphrase',
    );
    const wrong2 = await attemptLogin(
      version2.email,
      'not the right passphrase',
    );
    const unknown = await attemptLogin(
      'nobody.at.all@example.org',
      'not the right passphrase',
    );
    expect(calls).toHaveBeenCalledTimes(3);
    for (const response of [wrong1, wrong2, unknown])
      expect(response.status).toBe(401);
    const { requestId: _unknownRequest, ...unknownBody } =
      bodyOf<ProblemDetails>(unknown);
    for (const response of [wrong1, wrong2])
      expect({ ...response.body, requestId: undefined }).toEqual({
        ...unknownBody,
        requestId: undefined,
      });
    expect(await stored(version1.userId)).toEqual(before);
    // Both still open with the right password.
    await login(http(), version1);
    await login(http(), version2);
  });

  it('changes the password of a version-1 account (and refuses a wrong current one): version 2 after, data intact', async () => {
    const user = await registerUser(http(), { profile: PROFILE });
    const session: LoggedInUser = await login(http(), user);
    const dataKeys = await makeVersion1(user);
    const change = (currentPassword: string) =>
      request(http())
        .post('/v1/auth/password')
        .set(...bearer(session.accessToken))
        .send({
          currentPassword,
          newPassword: 'a version-two passphrase 2031',
        });

    expect((await change('not the right passphrase')).status).toBe(401);
    expect((await stored(user.userId)).kdf_params).not.toHaveProperty(
      'version',
    );
    expect((await change(user.password)).status).toBe(204);

    expect((await stored(user.userId)).kdf_params).toMatchObject({
      version: 2,
    });
    expect((await attemptLogin(user.email, user.password)).status).toBe(401);
    const changed = { ...user, password: 'a version-two passphrase 2031' };
    expect(await dataKeysOf(user.userId, changed.password)).toEqual(dataKeys);
    const calls = argon2Calls();
    const again = await login(http(), changed);
    expect(calls).toHaveBeenCalledTimes(1);
    expect(await profileOf(again)).toMatchObject(PROFILE);
  });

  it('recovers a version-1 account with its code: a version-2 password, data intact', async () => {
    const user = await registerUser(http(), { profile: PROFILE });
    const dataKeys = await makeVersion1(user);
    const newPassword = 'recovered into version two 2032';
    const recovered = await request(http()).post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: user.recoveryCode,
      newPassword,
    });
    expect(recovered.status).toBe(200);

    expect((await stored(user.userId)).kdf_params).toMatchObject({
      version: 2,
    });
    expect((await attemptLogin(user.email, user.password)).status).toBe(401);
    expect(await dataKeysOf(user.userId, newPassword)).toEqual(dataKeys);
    const calls = argon2Calls();
    const session = await login(http(), { ...user, password: newPassword });
    expect(calls).toHaveBeenCalledTimes(1);
    expect(await profileOf(session)).toMatchObject(PROFILE);
  });

  it('rotates the keys of a version-1 account (and refuses a wrong password); the next login upgrades it', async () => {
    const user = await registerUser(http(), { profile: PROFILE });
    const session = await login(http(), user);
    await makeVersion1(user);
    const rotate = (password: string) =>
      request(http())
        .post('/v1/me/keys/rotate')
        .set(...bearer(session.accessToken))
        .send({ password });

    expect((await rotate('not the right passphrase')).status).toBe(401);
    const rotated = await rotate(user.password);
    expect(rotated.status).toBe(200);
    expect(bodyOf<RotatedKeysDto>(rotated).keyVersion).toBe(2);
    // A rotation changes data keys, not the password's derivation: still version 1, and the new
    // key version is wrapped under the version-1 KEK.
    expect((await stored(user.userId)).kdf_params).not.toHaveProperty(
      'version',
    );
    expect([...(await dataKeysOf(user.userId, user.password)).keys()]).toEqual([
      1, 2,
    ]);
    await waitUntil(
      'the rotation finished',
      async () =>
        (
          await t.dataSource.query<unknown[]>(
            'SELECT 1 FROM key_rotations WHERE user_id = $1',
            [user.userId],
          )
        ).length === 0,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const dataKeys = await dataKeysOf(user.userId, user.password);
    expect([...dataKeys.keys()]).toEqual([2]);

    const again = await login(http(), user);
    expect((await stored(user.userId)).kdf_params).toMatchObject({
      version: 2,
    });
    expect(await dataKeysOf(user.userId, user.password)).toEqual(dataKeys);
    expect(await profileOf(again)).toMatchObject(PROFILE);
  });

  it('deletes a version-1 account with its password (and refuses a wrong one)', async () => {
    const user = await registerUser(http());
    const session = await login(http(), user);
    await makeVersion1(user);
    const remove = (password: string) =>
      request(http())
        .delete('/v1/me')
        .set(...bearer(session.accessToken))
        .send({ password });
    expect((await remove('not the right passphrase')).status).toBe(401);
    expect((await remove(user.password)).status).toBe(204);
    expect(
      await t.dataSource.query('SELECT 1 FROM users WHERE id = $1', [
        user.userId,
      ]),
    ).toEqual([]);
  });
});
