import { randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  AccessKeyMaterial,
  AuthenticationFailedError,
  generateAccessKeySecret,
  openAccessKeyPublicKey,
} from '@vault-pii/nest-encryption/crypto';
import type { Keyring } from '@vault-pii/nest-encryption';
import { AccessKeyPurgeService } from '../src/auth/access-keys/access-key-purge.service';
import { AccessKeyVaultEntries } from '../src/auth/access-keys/access-key-vault-entries';
import type { AccessKeyScope } from '../src/common/auth/access-key-scopes';
import type { CreatedAccessKeyDto } from '../src/me/access-keys/dto/access-key.dto';
import type { ContactDto } from '../src/contacts/dto/contact.dto';
import { ServerKeys } from '../src/config/server-keys';
import type { RotatedKeysDto } from '../src/key-rotation/dto/rotated-keys.dto';
import {
  bearer,
  login,
  LoggedInUser,
  registerAndLogin,
} from './support/auth-client';
import { dumpDatabase, findCanaries } from './support/canary-scan';
import { bodyOf } from './support/http-body';
import { unlockKeyring, waitForRotation } from './support/key-rotation-seed';
import { expectProblem } from './support/problem-assertions';
import { waitUntil } from './support/wait-until';
import { createTestApp, TestApp } from './support/test-app';
import {
  openAccessKeyEntry,
  openAccessKeyEntryOf,
  openAccessKeyEntryWithShare,
  sealedAccessKeyEntry,
} from './support/access-key-vault-entry';

const DAY_MS = 86_400_000;
const ALL_SCOPES = [
  'profile:read',
  'profile:write',
  'contacts:read',
  'contacts:write',
];
const PROFILE = {
  fullName: 'Keyholder Lifecycle 58203917',
  dateOfBirth: '1975-06-30',
  phone: '+44 20 7946 3817',
  address: '7 Wrapped Key Row',
  nationalId: 'NI-AKL-60381752',
};
const CONTACT = {
  fullName: 'Contact Lifecycle 73915284',
  email: 'contact.lifecycle.73915284@example.org',
  notes: 'sealed to every live key 40862173',
};
const NEW_PASSWORD = 'Changed lifecycle passphrase 2957';

interface AccessKeyWrapRow {
  key_version: number;
  sealed_data_key: Buffer;
}

interface IssuedKey {
  id: string;
  secret: string;
}

/**
 * docs/access-keys.md#lifecycle and docs/crypto.md#access-keys (issue 19): what password changes,
 * key rotations, recovery, account deletion and the expiry purge do to access keys and their data
 * key wraps, and what a database dump with every server secret (but no key's secret) reveals.
 */
describe('access keys: lifecycle and key hierarchy', () => {
  let t: TestApp;
  let http: () => App;

  beforeAll(async () => {
    t = await createTestApp();
    http = () => t.app.getHttpServer();
  });
  afterAll(() => t?.close());

  async function issueKey(
    user: LoggedInUser,
    name = 'lifecycle key',
    scopes: readonly string[] = ALL_SCOPES,
  ): Promise<IssuedKey> {
    const created = await createKeyRequest(user, name, scopes);
    expect({ status: created.status, body: created.body as unknown }).toEqual({
      status: 201,
      body: expect.objectContaining({ name }),
    });
    const { id, secret } = bodyOf<CreatedAccessKeyDto>(created);
    return { id, secret };
  }

  const createKeyRequest = (
    user: LoggedInUser,
    name = 'lifecycle key',
    scopes: readonly string[] = ALL_SCOPES,
  ) =>
    request(http())
      .post('/v1/me/access-keys')
      .set(...bearer(user.accessToken))
      .send({
        name,
        scopes,
        expiresAt: new Date(Date.now() + DAY_MS).toISOString(),
        password: user.password,
      });

  async function createContact(
    token: string,
    body: object = CONTACT,
  ): Promise<{ id: string }> {
    const created = await request(http())
      .post('/v1/contacts')
      .set(...bearer(token))
      .send(body);
    expect(created.status).toBe(201);
    return { id: bodyOf<ContactDto>(created).id };
  }

  const readContact = (token: string, id: string) =>
    request(http())
      .get(`/v1/contacts/${id}`)
      .set(...bearer(token));

  const readProfile = (token: string) =>
    request(http())
      .get('/v1/me/profile')
      .set(...bearer(token));

  const rotate = (user: LoggedInUser) =>
    request(http())
      .post('/v1/me/keys/rotate')
      .set(...bearer(user.accessToken))
      .send({ password: user.password });

  const wrapsOf = (accessKeyId: string) =>
    t.dataSource.query<AccessKeyWrapRow[]>(
      `SELECT key_version, sealed_data_key FROM access_key_data_keys
        WHERE access_key_id = $1 ORDER BY key_version`,
      [accessKeyId],
    );

  const wrappedVersionsOf = async (accessKeyId: string) =>
    (await wrapsOf(accessKeyId)).map((row) => row.key_version);

  const countRows = async (sql: string, parameters: unknown[]) =>
    (await t.dataSource.query<{ n: number }[]>(sql, parameters))[0].n;

  const keyRowsOfUser = (userId: string) =>
    countRows('SELECT count(*)::int AS n FROM access_keys WHERE user_id = $1', [
      userId,
    ]);

  const wrapRowsOfUser = (userId: string) =>
    countRows(
      'SELECT count(*)::int AS n FROM access_key_data_keys WHERE user_id = $1',
      [userId],
    );

  const expire = (accessKeyId: string) =>
    t.dataSource.query(
      `UPDATE access_keys SET expires_at = now() - interval '1 minute' WHERE id = $1`,
      [accessKeyId],
    );

  /** The versions the key's vault entry holds (active first), or undefined when it has none. */
  async function entryVersionsOf(
    key: IssuedKey,
    user: { userId: string },
  ): Promise<number[] | undefined> {
    const entry = await sealedAccessKeyEntry(t, key.id, user.userId);
    return entry && openAccessKeyEntryOf(t, entry, key.secret);
  }

  /**
   * What a request does once it has read the key's row and opened its wraps, done late on purpose:
   * store the keyring as the key's vault entry (then re-read the row). Zeroes `keyring`.
   */
  async function storeEntryLate(
    user: { userId: string },
    key: IssuedKey,
    keyring: Keyring,
  ): Promise<void> {
    const material = AccessKeyMaterial.derive(
      key.secret,
      t.app.get(ServerKeys).accessKeySecret,
    )!;
    try {
      await t.app.get(AccessKeyVaultEntries).keep(
        {
          id: key.id,
          userId: user.userId,
          scopes: ALL_SCOPES as AccessKeyScope[],
          allowedAddresses: null,
          expiresAt: Date.now() + DAY_MS,
        },
        keyring,
        material.vaultShare,
      );
    } finally {
      material.zero();
      keyring.zero();
    }
  }

  /**
   * Inside a change's window (its first deletion done, its commit not yet): the key has no entry,
   * then a request stores one of a keyring read now, and the entry holds `version`.
   */
  async function storeInWindow(
    user: LoggedInUser,
    key: IssuedKey,
    version: number,
  ): Promise<void> {
    expect(await entryVersionsOf(key, user)).toBeUndefined();
    await storeEntryLate(
      user,
      key,
      await unlockKeyring(t, user.userId, user.password),
    );
    expect(await entryVersionsOf(key, user)).toEqual([version]);
  }

  /**
   * Runs `change` (a request) while a second connection holds the row `id` of `table` (users or
   * access_keys) `FOR UPDATE`, and `meanwhile` once the change waits for that row in a statement
   * matching `waitingIn`.
   */
  async function whileRowHeld<T>(
    table: 'users' | 'access_keys',
    id: string,
    waitingIn: string,
    change: () => Promise<T>,
    meanwhile: () => Promise<void>,
  ): Promise<T> {
    const holder = t.dataSource.createQueryRunner();
    await holder.connect();
    try {
      await holder.startTransaction();
      await holder.query(`SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`, [
        id,
      ]);
      const answer = change();
      await waitUntil(
        `a statement like ${waitingIn} waits for the ${table} row`,
        async () =>
          (
            await t.dataSource.query<unknown[]>(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`,
              [waitingIn],
            )
          ).length > 0,
      );
      await meanwhile();
      await holder.commitTransaction();
      return await answer;
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
  }

  async function expectKeyReads(
    key: IssuedKey,

    contactId: string,
    expected: object = CONTACT,
  ): Promise<void> {
    const read = await readContact(key.secret, contactId);
    expect({ status: read.status, body: read.body as unknown }).toEqual({
      status: 200,
      body: expect.objectContaining(expected),
    });
  }

  function expectInvalidToken(
    response: request.Response,
    key: IssuedKey,
  ): void {
    expectProblem(response, 401, 'invalid_token', [key.secret]);
    expect(response.headers['www-authenticate']).toMatch(
      /error="invalid_token"/,
    );
  }

  it('a password change leaves access keys working and their wraps byte-identical', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const key = await issueKey(user);
    const before = await readContact(key.secret, contact.id);
    expect(before.status).toBe(200);
    const wrapsBefore = await wrapsOf(key.id);
    expect(wrapsBefore.map((row) => row.key_version)).toEqual([1]);
    const passwordWrap = () =>
      t.dataSource.query<{ wrapped_by_password: Buffer }[]>(
        'SELECT wrapped_by_password FROM user_data_keys WHERE user_id = $1',
        [user.userId],
      );
    const passwordWrapBefore = await passwordWrap();

    const changed = await request(http())
      .post('/v1/auth/password')
      .set(...bearer(user.accessToken))
      .send({ currentPassword: user.password, newPassword: NEW_PASSWORD });
    expect(changed.status).toBe(204);

    // The change did re-wrap the data key under the new password; the access key's wraps did not move.
    expect(await passwordWrap()).not.toEqual(passwordWrapBefore);
    expect(await wrapsOf(key.id)).toEqual(wrapsBefore);
    const after = await readContact(key.secret, contact.id);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
  });

  it('a key rotation seals the new version to live keys only; once the old version is destroyed no wrap of it remains and the keys read, write and can be made anew', async () => {
    const user = await registerAndLogin(http(), { profile: PROFILE });
    const contact = await createContact(user.accessToken);
    const second = await createContact(user.accessToken, {
      fullName: 'Second Lifecycle 91736428',
    });
    const syncKey = await issueKey(user, 'sync');
    const reportKey = await issueKey(user, 'report', [
      'contacts:read',
      'profile:read',
    ]);
    const expiredKey = await issueKey(user, 'expired');
    await expire(expiredKey.id);
    // Used before the rotation: its vault entry holds version 1, and the rotation must delete it.
    await expectKeyReads(syncKey, contact.id);
    expect(await entryVersionsOf(syncKey, user)).toEqual([1]);

    // Hold the old version's row (FOR KEY SHARE) so that the job cannot destroy it before the
    // assertions on the state right after the rotation's answer have run; nothing else waits.
    const holder = t.dataSource.createQueryRunner();
    await holder.connect();
    let duringRotation: LoggedInUser;
    try {
      await holder.startTransaction();
      await holder.query(
        'SELECT 1 FROM user_data_keys WHERE user_id = $1 AND key_version = 1 FOR KEY SHARE',
        [user.userId],
      );
      const answer = await rotate(user);
      expect(answer.status).toBe(200);
      expect(bodyOf<RotatedKeysDto>(answer).keyVersion).toBe(2);

      expect(await wrappedVersionsOf(syncKey.id)).toEqual([1, 2]);
      expect(await wrappedVersionsOf(reportKey.id)).toEqual([1, 2]);
      expect(await wrappedVersionsOf(expiredKey.id)).toEqual([1]);
      for (const key of [syncKey, reportKey]) {
        await expectKeyReads(key, contact.id);
        const profile = await readProfile(key.secret);
        expect(profile.status).toBe(200);
        expect(profile.body).toMatchObject(PROFILE);
      }
      expectProblem(
        await readContact(expiredKey.secret, contact.id),
        401,
        'access_key_expired',
        [expiredKey.secret],
      );
      // While both versions exist the keys are served from the database: no entry holds a
      // version the job is about to destroy.
      for (const key of [syncKey, reportKey])
        expect(await entryVersionsOf(key, user)).toBeUndefined();
      // A session opened while both versions exist unlocks both (used below, after the job).
      duringRotation = await login(http(), user);
      await holder.commitTransaction();
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
    await waitForRotation(t, user.userId);

    // The old data key is gone everywhere: its password/recovery wraps and every access key's.
    expect(
      await t.dataSource.query(
        'SELECT key_version FROM user_data_keys WHERE user_id = $1',
        [user.userId],
      ),
    ).toEqual([{ key_version: 2 }]);
    expect(
      await countRows(
        'SELECT count(*)::int AS n FROM access_key_data_keys WHERE user_id = $1 AND key_version = 1',
        [user.userId],
      ),
    ).toBe(0);
    expect(await wrappedVersionsOf(syncKey.id)).toEqual([2]);
    expect(await wrappedVersionsOf(reportKey.id)).toEqual([2]);
    expect(await wrappedVersionsOf(expiredKey.id)).toEqual([]);
    const contactVersions = await t.dataSource.query<{ version: Buffer }[]>(
      `SELECT substring(full_name from 3 for 4) AS version FROM contacts WHERE owner_id = $1`,
      [user.userId],
    );
    expect(contactVersions.map((row) => row.version.readUInt32BE(0))).toEqual([
      2, 2,
    ]);

    // The live keys read the re-encrypted data, and write under the new version.
    for (const key of [syncKey, reportKey]) {
      await expectKeyReads(key, contact.id);
      await expectKeyReads(key, second.id, {
        fullName: 'Second Lifecycle 91736428',
      });
      expect((await readProfile(key.secret)).body).toMatchObject(PROFILE);
    }
    const written = await createContact(syncKey.secret, {
      fullName: 'Written After Rotation 26481937',
    });
    await expectKeyReads(
      { id: user.userId, secret: user.accessToken },
      written.id,
      { fullName: 'Written After Rotation 26481937' },
    );

    // Their vault entries hold the new version only.
    for (const key of [syncKey, reportKey])
      expect(await entryVersionsOf(key, user)).toEqual([2]);

    // Keys made after the rotation work: by the rotating session, and by one that logged in
    // while both versions existed (its keyring may still hold the destroyed version).
    for (const session of [user, duringRotation]) {
      const later = await issueKey(session, 'after rotation');
      expect(await wrappedVersionsOf(later.id)).toEqual([2]);
      await expectKeyReads(later, contact.id);
    }
  });

  it('recovery deletes every access key of the user and their wraps, audited; other users keep theirs', async () => {
    const user = await registerAndLogin(http());
    const other = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const othersContact = await createContact(other.accessToken);
    const keys = [await issueKey(user, 'one'), await issueKey(user, 'two')];
    const othersKey = await issueKey(other);
    const othersWraps = await wrapsOf(othersKey.id);
    await expectKeyReads(keys[0], contact.id);
    expect(await entryVersionsOf(keys[0], user)).toEqual([1]);

    const recovered = await request(http()).post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: user.recoveryCode,
      newPassword: NEW_PASSWORD,
    });
    expect(recovered.status).toBe(200);

    expect(await keyRowsOfUser(user.userId)).toBe(0);
    expect(await wrapRowsOfUser(user.userId)).toBe(0);
    for (const key of keys) {
      expect(await entryVersionsOf(key, user)).toBeUndefined();
      expectInvalidToken(await readContact(key.secret, contact.id), key);
    }
    expect(
      await t.dataSource.query(
        `SELECT outcome FROM audit_events WHERE event = 'access_key.revoke' AND user_id = $1`,
        [user.userId],
      ),
    ).toEqual([{ outcome: 'success' }]);

    expect(await wrapsOf(othersKey.id)).toEqual(othersWraps);
    await expectKeyReads(othersKey, othersContact.id);
  });

  it('deleting the account removes its access keys, wraps (cascade) and vault entries, even one stored during the deletion; the key answers 401', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const key = await issueKey(user);
    await expectKeyReads(key, contact.id);
    expect(await wrapRowsOfUser(user.userId)).toBe(1);

    // A request by the key that stores its entry after the sessions (and entries) ended but
    // before the account's row goes: the deletion deletes it again.
    const deleted = await whileRowHeld(
      'users',
      user.userId,
      'DELETE FROM "users"%',
      () =>
        request(http())
          .delete('/v1/me')
          .set(...bearer(user.accessToken))
          .send({ password: user.password })
          .then((response) => response),
      () => storeInWindow(user, key, 1),
    );
    expect(deleted.status).toBe(204);

    expect(await keyRowsOfUser(user.userId)).toBe(0);
    expect(await wrapRowsOfUser(user.userId)).toBe(0);
    expect(await entryVersionsOf(key, user)).toBeUndefined();
    expectInvalidToken(await readContact(key.secret, contact.id), key);
  });

  it('a database dump with every server secret but no key secret opens no data key; the secret with the server secret does', async () => {
    const user = await registerAndLogin(http(), { profile: PROFILE });
    const contact = await createContact(user.accessToken);
    const key = await issueKey(user);
    await expectKeyReads(key, contact.id);
    const serverKeys = t.app.get(ServerKeys);
    const [row] = await t.dataSource.query<
      { lookup_hash: Buffer; sealed_public_key: Buffer }[]
    >('SELECT lookup_hash, sealed_public_key FROM access_keys WHERE id = $1', [
      key.id,
    ]);
    const [wrap] = await wrapsOf(key.id);
    const context = { userId: user.userId, accessKeyId: key.id, keyVersion: 1 };

    // (a) The server opens the sealed public key (it seals new data keys to it at a rotation)…
    const publicKey = openAccessKeyPublicKey(
      row.sealed_public_key,
      serverKeys.accessKeySecret,
      { userId: user.userId, accessKeyId: key.id },
    );
    expect(publicKey).toHaveLength(32);
    // …but no key pair it can derive without the key's secret opens the wrap: not a fresh secret,
    // nor any stored or server-held 32-byte value taken as the secret, under any server secret.
    const serverSecrets = [
      serverKeys.accessKeySecret,
      serverKeys.pepper,
      serverKeys.argon2OutputKey,
      serverKeys.blindIndexKey,
      serverKeys.vaultKey,
      serverKeys.rateLimitKey,
      serverKeys.idempotencyKey,
      serverKeys.jwtSigningKey.export(),
    ].filter((value) => value.length === 32);
    expect(serverSecrets.length).toBeGreaterThanOrEqual(7);
    const guessedSecrets = [
      generateAccessKeySecret(),
      ...[...serverSecrets, row.lookup_hash, publicKey].map(
        (value) => `vpk_${value.toString('base64url')}`,
      ),
    ];
    const expectNotOpened = (
      secret: string,
      serverSecret: Buffer,
      wrapContext = context,
    ) => {
      const material = AccessKeyMaterial.derive(secret, serverSecret)!;
      try {
        expect(() =>
          material.openDataKey(wrap.sealed_data_key, wrapContext),
        ).toThrow(AuthenticationFailedError);
      } finally {
        material.zero();
      }
    };
    for (const guess of guessedSecrets)
      for (const serverSecret of serverSecrets)
        expectNotOpened(guess, serverSecret);

    // (b) The secret alone, with any other server secret, opens nothing (split knowledge)…
    expectNotOpened(key.secret, serverKeys.vaultKey);
    // …and with the server secret it opens the very data key the password unwraps.
    const material = AccessKeyMaterial.derive(
      key.secret,
      serverKeys.accessKeySecret,
    )!;
    const dataKey = Buffer.from(
      material.openDataKey(wrap.sealed_data_key, context),
    );
    material.zero();
    const keyring = await unlockKeyring(t, user.userId, user.password);
    try {
      expect(dataKey.equals(keyring.key(1)!)).toBe(true);
    } finally {
      keyring.zero();
    }
    // The wrap is bound to its key and version: the same bytes do not open as another's.
    expectNotOpened(key.secret, serverKeys.accessKeySecret, {
      ...context,
      keyVersion: 2,
    });
    expectNotOpened(key.secret, serverKeys.accessKeySecret, {
      ...context,
      accessKeyId: randomUUID(),
    });

    // (c) The key's vault entry (its data keys between requests) opens with the vault key and the
    // share only the secret derives; with every server secret and no secret, it does not: no
    // server secret, stored value or guessed secret taken as the share or as the secret.
    const entry = await sealedAccessKeyEntry(t, key.id, user.userId);
    expect(entry).toBeDefined();
    expect(openAccessKeyEntryOf(t, entry!, key.secret)).toEqual([1]);
    for (const vaultKey of serverSecrets) {
      for (const share of [...serverSecrets, row.lookup_hash, publicKey])
        expect(() =>
          openAccessKeyEntryWithShare(entry!, share, vaultKey),
        ).toThrow(AuthenticationFailedError);
      for (const guess of guessedSecrets)
        for (const serverSecret of serverSecrets)
          expect(() =>
            openAccessKeyEntry(entry!, guess, {
              vaultKey,
              accessKeySecret: serverSecret,
            }),
          ).toThrow(AuthenticationFailedError);
    }

    // (d) Neither the data key, nor the key's secret, nor its public key is stored anywhere.
    const { dumps, rowCounts } = await dumpDatabase(t.dataSource);
    expect(rowCounts).toMatchObject({
      access_keys: expect.any(Number),
      access_key_data_keys: expect.any(Number),
      user_data_keys: expect.any(Number),
    });
    const findings = findCanaries(
      [
        {
          label: 'data key',
          text: [dataKey.toString('base64'), dataKey.toString('base64url')],
          bytes: [dataKey],
        },
        {
          label: 'access key secret',
          text: [key.secret, key.secret.slice('vpk_'.length)],
          bytes: [Buffer.from(key.secret.slice('vpk_'.length), 'base64url')],
        },
        {
          label: 'access key public key',
          text: [publicKey.toString('base64'), publicKey.toString('base64url')],
          bytes: [publicKey],
        },
      ],
      [
        ...dumps,
        {
          where: "the key's vault entry",
          text: [entry!.sealed.toString('latin1').toLowerCase()],
          hex: [entry!.sealed.toString('hex')],
        },
      ],
    );
    expect(findings).toEqual([]);
    dataKey.fill(0);
  });

  it('a request that read a key before its revocation or a rotation committed, and stores its vault entry after, leaves none behind', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const storeLate = (key: IssuedKey, keyring: Keyring) =>
      storeEntryLate(user, key, keyring);

    // Revoked between the read and the store.
    const revoked = await issueKey(user, 'revoked');
    await expectKeyReads(revoked, contact.id);
    const readBeforeRevocation = await unlockKeyring(
      t,
      user.userId,
      user.password,
    );
    const revocation = await request(http())
      .delete(`/v1/me/access-keys/${revoked.id}`)
      .set(...bearer(user.accessToken));
    expect(revocation.status).toBe(204);
    await storeLate(revoked, readBeforeRevocation);
    expect(await entryVersionsOf(revoked, user)).toBeUndefined();
    expectInvalidToken(await readContact(revoked.secret, contact.id), revoked);

    // Stored (and re-read) after the revocation deleted the entry but before it committed: the
    // revocation deletes it again once committed.
    const held = await issueKey(user, 'revoked while held');
    await expectKeyReads(held, contact.id);
    const revokedWhileHeld = await whileRowHeld(
      'access_keys',
      held.id,
      'DELETE FROM "access_keys"%',
      () =>
        request(http())
          .delete(`/v1/me/access-keys/${held.id}`)
          .set(...bearer(user.accessToken))
          .then((response) => response),
      () => storeInWindow(user, held, 1),
    );
    expect(revokedWhileHeld.status).toBe(204);
    expect(await entryVersionsOf(held, user)).toBeUndefined();
    expectInvalidToken(await readContact(held.secret, contact.id), held);

    // A rotation committed between the read and the store: the keyring lacks the new version.
    const rotated = await issueKey(user, 'rotated');
    await expectKeyReads(rotated, contact.id);
    const readBeforeRotation = await unlockKeyring(
      t,
      user.userId,
      user.password,
    );
    expect((await rotate(user)).status).toBe(200);
    await storeLate(rotated, readBeforeRotation);
    expect(await entryVersionsOf(rotated, user)).toBeUndefined();
    await waitForRotation(t, user.userId);

    // The control: a keyring read after both is stored, and the key is served from it.
    await storeLate(
      rotated,
      await unlockKeyring(t, user.userId, user.password),
    );
    expect(await entryVersionsOf(rotated, user)).toEqual([2]);
    await expectKeyReads(rotated, contact.id);

    // Stored (and re-read) after a rotation deleted the user's entries but before it committed:
    // the rotation deletes it again once committed. A second connection holds the user's row so
    // that the rotation waits between the two.
    const answer = await whileRowHeld(
      'users',
      user.userId,
      'UPDATE "users"%',
      () => rotate(user).then((response) => response),
      () => storeInWindow(user, rotated, 2),
    );
    expect(answer.status).toBe(200);
    expect(await entryVersionsOf(rotated, user)).toBeUndefined();
    await waitForRotation(t, user.userId);

    await expectKeyReads(rotated, contact.id);
    expect(await entryVersionsOf(rotated, user)).toEqual([3]);
  });

  it('a wrap swapped between two keys answers 401 invalid_token, logged without secrets', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const first = await issueKey(user, 'first');
    const second = await issueKey(user, 'second');
    const [firstWrap] = await wrapsOf(first.id);
    const [secondWrap] = await wrapsOf(second.id);
    const logsBefore = t.logs.length;

    await t.dataSource.query(
      `UPDATE access_key_data_keys SET sealed_data_key = CASE access_key_id
         WHEN $1::uuid THEN $3::bytea WHEN $2::uuid THEN $4::bytea END
        WHERE access_key_id IN ($1, $2)`,
      [
        first.id,
        second.id,
        secondWrap.sealed_data_key,
        firstWrap.sealed_data_key,
      ],
    );

    for (const key of [first, second]) {
      expectInvalidToken(await readContact(key.secret, contact.id), key);
    }
    const logged = t.logs
      .slice(logsBefore)
      .filter((line) => line.msg === 'access key data keys did not open');
    expect(logged.map((line) => line.accessKeyId).sort()).toEqual(
      [first.id, second.id].sort(),
    );
    const logText = JSON.stringify(t.logs.slice(logsBefore)).toLowerCase();
    for (const value of [
      first.secret,
      second.secret,
      first.secret.slice('vpk_'.length),
      firstWrap.sealed_data_key.toString('hex'),
      firstWrap.sealed_data_key.toString('base64'),
      secondWrap.sealed_data_key.toString('hex'),
      CONTACT.fullName,
    ])
      expect({ value, logged: logText.includes(value.toLowerCase()) }).toEqual({
        value,
        logged: false,
      });
    // The session's own keys are untouched.
    expect((await readContact(user.accessToken, contact.id)).status).toBe(200);
  });

  it('a sealed public key copied from another key does not open: a rotation revokes that key and reaches the others', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const victim = await issueKey(user, 'victim');
    const donor = await issueKey(user, 'donor');
    await t.dataSource.query(
      `UPDATE access_keys SET sealed_public_key =
         (SELECT sealed_public_key FROM access_keys WHERE id = $2) WHERE id = $1`,
      [victim.id, donor.id],
    );

    const other = await login(http(), user);
    // Using a key never reads its sealed public key: the victim still works.
    await expectKeyReads(victim, contact.id);
    const bystander = await issueKey(user, 'bystander');
    const answer = await rotate(user);
    // One altered row cannot block a rotation: the key it belongs to is revoked (it could never
    // open the new version), logged without any key material, and every other key is reached.
    expect(answer.status).toBe(200);
    expect(
      await t.dataSource.query<{ id: string }[]>(
        'SELECT id FROM access_keys WHERE user_id = $1 ORDER BY name',
        [user.userId],
      ),
    ).toEqual(expect.not.arrayContaining([{ id: victim.id }]));
    expect(
      t.logs.find(
        (line) =>
          line.msg === 'access key public key did not open: the key is revoked',
      ),
    ).toMatchObject({ accessKeyIds: [victim.id] });
    expect(await wrappedVersionsOf(victim.id)).toEqual([]);
    expectInvalidToken(await readContact(victim.secret, contact.id), victim);
    // Version 2 at least (the job may already have destroyed version 1 and its wraps).
    expect(await wrappedVersionsOf(donor.id)).toContain(2);
    expect(await wrappedVersionsOf(bystander.id)).toContain(2);
    await expectKeyReads(donor, contact.id);
    await expectKeyReads(bystander, contact.id);
    // The other session was ended by the rotation, as always.
    expectProblem(
      await request(http())
        .get('/v1/me')
        .set(...bearer(other.accessToken)),
      401,
      'session_locked',
    );
  });

  it('the purge deletes expired keys and their wraps and keeps live ones', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const live = await issueKey(user, 'live');
    const expiring = [
      await issueKey(user, 'expired one'),
      await issueKey(user, 'expired two'),
    ];
    for (const key of expiring) await expire(key.id);
    const liveWraps = await wrapsOf(live.id);

    await t.app.get(AccessKeyPurgeService).run(new Date());

    const remaining = await t.dataSource.query<{ id: string }[]>(
      'SELECT id FROM access_keys WHERE user_id = $1',
      [user.userId],
    );
    expect(remaining).toEqual([{ id: live.id }]);
    for (const key of expiring) {
      expect(await wrapsOf(key.id)).toEqual([]);
      expectInvalidToken(await readContact(key.secret, contact.id), key);
    }
    expect(await wrapsOf(live.id)).toEqual(liveWraps);
    await expectKeyReads(live, contact.id);
  });

  it('a key creation racing a rotation never leaves a key without a wrap of the active version', async () => {
    const user = await registerAndLogin(http());
    const contact = await createContact(user.accessToken);
    const outcomes: number[] = [];
    for (let round = 0; round < 4; round++) {
      const [created, rotated] = await Promise.all([
        createKeyRequest(user, `race ${round}`),
        rotate(user),
      ]);
      expect(rotated.status).toBe(200);
      outcomes.push(created.status);
      if (created.status === 201) {
        const key = bodyOf<CreatedAccessKeyDto>(created);
        await expectKeyReads({ id: key.id, secret: key.secret }, contact.id);
      } else {
        // The create read the keys before the rotation committed and lost the race.
        expectProblem(created, 409, 'conflict', [user.password]);
      }
      await waitForRotation(t, user.userId);
    }
    const [{ active_key_version: active }] = await t.dataSource.query<
      { active_key_version: number }[]
    >('SELECT active_key_version FROM users WHERE id = $1', [user.userId]);
    expect(active).toBe(5);
    // Every key that exists holds a wrap of the active version, and nothing else.
    const keys = await t.dataSource.query<{ id: string; versions: number[] }[]>(
      `SELECT k.id, array_agg(w.key_version ORDER BY w.key_version) AS versions
         FROM access_keys k LEFT JOIN access_key_data_keys w ON w.access_key_id = k.id
        WHERE k.user_id = $1 GROUP BY k.id`,
      [user.userId],
    );
    expect(keys).toHaveLength(
      outcomes.filter((status) => status === 201).length,
    );
    for (const key of keys) expect(key.versions).toEqual([active]);
  });
});
