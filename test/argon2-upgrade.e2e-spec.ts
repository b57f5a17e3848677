import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { ProfileDto } from '../src/profile/dto/profile.dto';
import { bearer, login, registerUser } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/crypto.md#key-hierarchy: argon2id cost is stored per user and upgraded at the next login
 * when raised.
 */
describe('argon2id parameters upgrade at login', () => {
  const masterKey = randomBytes(32).toString('base64');
  let before: TestApp;
  let after: TestApp;

  beforeAll(async () => {
    before = await createTestApp({ env: { APP_MASTER_KEY: masterKey } });
  });
  afterAll(async () => {
    await after?.close();
    await before?.close();
  });

  it('re-derives with the stronger configured cost, keeps the data, and the new password hash works', async () => {
    const user = await registerUser(before.app.getHttpServer(), {
      profile: { fullName: 'Upgraded User' },
    });
    const stored = async (app: TestApp) =>
      (
        await app.dataSource.query<
          { kdf_params: { memoryKiB: number }; kdf_salt: Buffer }[]
        >('SELECT kdf_params, kdf_salt FROM users WHERE id = $1', [user.userId])
      )[0];
    const original = await stored(before);
    expect(original.kdf_params).toEqual({
      memoryKiB: 19456,
      iterations: 2,
      parallelism: 1,
      version: 2,
    });

    // The same database and master key, restarted with a higher cost.
    after = await createTestApp({
      sharedDatabase: before.database,
      env: {
        APP_MASTER_KEY: masterKey,
        ARGON2_MEMORY_KIB: '24576',
        ARGON2_ITERATIONS: '3',
      },
    });
    const session = await login(after.app.getHttpServer(), user);
    const upgraded = await stored(after);
    // The KDF version stays the current one (test/kdf-version-upgrade.e2e-spec.ts: version 1 → 2).
    expect(upgraded.kdf_params).toEqual({
      memoryKiB: 24576,
      iterations: 3,
      parallelism: 1,
      version: 2,
    });
    expect(
      Buffer.from(upgraded.kdf_salt).equals(Buffer.from(original.kdf_salt)),
    ).toBe(false);

    const profile = await request(after.app.getHttpServer())
      .get('/v1/me/profile')
      .set(...bearer(session.accessToken));
    expect(bodyOf<ProfileDto>(profile).fullName).toBe('Upgraded User');
    // The upgraded verifier and wraps open again, on either instance.
    await login(after.app.getHttpServer(), user);
    await login(before.app.getHttpServer(), user);
    expect((await stored(after)).kdf_params.memoryKiB).toBe(24576);
  });
});
