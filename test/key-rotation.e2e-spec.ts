import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import request from 'supertest';
import type { App } from 'supertest/types';
import type {
  ContactDto,
  ContactPageDto,
} from '../src/contacts/dto/contact.dto';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import type { RotatedKeysDto } from '../src/key-rotation/dto/rotated-keys.dto';
import { KeyRotationJob } from '@vault-pii/nest-encryption';
import type { MeDto } from '../src/me/me.controller';
import {
  bearer,
  login,
  LoggedInUser,
  registerAndLogin,
  STRONG_PASSWORD,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import {
  rotationPending as keyRotationPending,
  seedContacts,
  seededContact,
  waitForRotation as waitForKeyRotation,
} from './support/key-rotation-seed';
import { errorFields, expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

const NEW_PASSWORD = 'Rotated passphrase for recovery 9031';
const PROFILE = {
  fullName: 'Rota Tion',
  dateOfBirth: '1980-02-29',
  phone: '+44 20 7946 0000',
  address: '1 Key Lane',
  nationalId: 'NI-ROT-4242',
};

/**
 * docs/crypto.md#key-rotation and issue 7: POST /v1/me/keys/rotate re-encrypts everything and
 * destroys the old key.
 */
describe('key rotation (POST /v1/me/keys/rotate)', () => {
  let t: TestApp;
  let http: () => App;

  beforeAll(async () => {
    t = await createTestApp();
    http = () => t.app.getHttpServer();
  });
  afterAll(() => t?.close());

  const rotate = (
    user: LoggedInUser,
    body: unknown = { password: user.password },
  ) =>
    request(http())
      .post('/v1/me/keys/rotate')
      .set(...bearer(user.accessToken))
      .send(body as object);

  const waitForRotation = (userId: string) => waitForKeyRotation(t, userId);
  const rotationPending = (userId: string) => keyRotationPending(t, userId);

  /** Key version of every non-null ciphertext of the user, per table.column, from the raw bytes. */
  async function storedKeyVersions(
    userId: string,
  ): Promise<Map<string, Set<number>>> {
    const found = new Map<string, Set<number>>();
    for (const entity of t.app.get(KeyRotationJob).encryptedEntities) {
      for (const column of entity.encryptedColumns) {
        const rows: { version: Buffer }[] = await t.dataSource.query(
          `SELECT substring("${column.databaseName}" from 3 for 4) AS version FROM "${entity.tablePath.join('"."')}"
            WHERE "${entity.ownerColumn}" = $1 AND "${column.databaseName}" IS NOT NULL`,
          [userId],
        );
        const versions = new Set(
          rows.map((row) => row.version.readUInt32BE(0)),
        );
        if (versions.size > 0)
          found.set(
            `${entity.tablePath.join('.')}.${column.databaseName}`,
            versions,
          );
      }
    }
    return found;
  }

  function documentFileVersion(documentId: string): number {
    return readFileSync(
      join(t.config.dataDir, 'documents', `${documentId}.vpd`),
    ).readUInt32BE(6);
  }

  it('re-encrypts columns, blind indexes and documents under a new version, then destroys the old key', async () => {
    const user = await registerAndLogin(http(), { profile: PROFILE });
    const other = await login(http(), user);
    const contact = await request(http())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({
        fullName: 'Ada Contact',
        email: 'Ada.Contact@Example.org',
        phone: '+1 (555) 010-2222',
        notes: 'met at the key party',
      });
    expect(contact.status).toBe(201);
    const contactId = bodyOf<ContactDto>(contact).id;
    await seedContacts(t, user.userId, user.password, 40);
    const document = await request(http())
      .post('/v1/documents')
      .set(...bearer(user.accessToken))
      .send({ kind: 'profile-summary' });
    expect(document.status).toBe(201);
    const documentId = bodyOf<DocumentDto>(document).id;
    expect(documentFileVersion(documentId)).toBe(1);
    const before = await storedKeyVersions(user.userId);
    expect([...before.keys()].sort()).toEqual(
      expect.arrayContaining([
        'users.email',
        'profiles.full_name',
        'profiles.national_id',
        'contacts.full_name',
        'contacts.email',
        'documents.filename',
      ]),
    );

    const rotated = await rotate(user);
    expect(rotated.status).toBe(200);
    expect(rotated.headers['cache-control']).toBe('no-store');
    const rotatedKeys = bodyOf<RotatedKeysDto>(rotated);
    expect(Object.keys(rotatedKeys).sort()).toEqual([
      'keyVersion',
      'recoveryCode',
    ]);
    expect(rotatedKeys.keyVersion).toBe(2);
    expect(rotatedKeys.recoveryCode).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){6}$/);
    expect(rotatedKeys.recoveryCode).not.toBe(user.recoveryCode);
    await waitForRotation(user.userId);

    // Every ciphertext now names version 2; the documents' files too; version 1's wrapped key is gone.
    const after = await storedKeyVersions(user.userId);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [column, versions] of after)
      expect({ column, versions: [...versions] }).toEqual({
        column,
        versions: [2],
      });
    expect(documentFileVersion(documentId)).toBe(2);
    const keys = await t.dataSource.query<{ key_version: number }[]>(
      'SELECT key_version FROM user_data_keys WHERE user_id = $1',
      [user.userId],
    );
    expect(keys).toEqual([{ key_version: 2 }]);

    // The data reads back through the API, blind-index searches included.
    const me = await request(http())
      .get('/v1/me')
      .set(...bearer(user.accessToken));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      userId: user.userId,
      email: user.email,
      keyVersion: 2,
      keyRotation: null,
    });
    const profile = await request(http())
      .get('/v1/me/profile')
      .set(...bearer(user.accessToken));
    expect(profile.body).toMatchObject(PROFILE);
    const byEmail = await request(http())
      .get('/v1/contacts')
      .query({ email: 'ada.contact@example.org' })
      .set(...bearer(user.accessToken));
    expect(
      bodyOf<ContactPageDto>(byEmail).items.map((item) => item.id),
    ).toEqual([contactId]);
    const byPhone = await request(http())
      .get('/v1/contacts')
      .query({ phone: '+15550102222' })
      .set(...bearer(user.accessToken));
    expect(
      bodyOf<ContactPageDto>(byPhone).items.map((item) => item.id),
    ).toEqual([contactId]);
    const seeded = await request(http())
      .get('/v1/contacts')
      .query({ email: seededContact(17).email })
      .set(...bearer(user.accessToken));
    expect(bodyOf<ContactPageDto>(seeded).items).toEqual([
      expect.objectContaining(seededContact(17)),
    ]);
    const pdf = await request(http())
      .get(`/v1/documents/${documentId}/content`)
      .set(...bearer(user.accessToken))
      .buffer(true)
      .parse((response, done) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(null, Buffer.concat(chunks)));
      });
    expect(pdf.status).toBe(200);
    expect((pdf.body as Buffer).subarray(0, 5).toString('latin1')).toBe(
      '%PDF-',
    );

    // The other session was revoked; the rotating one carries on (its vault entry now holds only v2).
    expectProblem(
      await request(http())
        .get('/v1/me')
        .set(...bearer(other.accessToken)),
      401,
      'session_locked',
    );
    await request(http())
      .get('/v1/contacts')
      .set(...bearer(user.accessToken))
      .expect(200);

    // The audit log has the event; the logs have the rate and no PII.
    const audit = await t.dataSource.query<{ outcome: string }[]>(
      `SELECT outcome FROM audit_events WHERE event = 'keys.rotate' AND user_id = $1`,
      [user.userId],
    );
    expect(audit).toEqual([{ outcome: 'success' }]);
    const completed = t.logs.find(
      (line) =>
        line.msg === 'key rotation completed: old key version destroyed' &&
        line.userId === user.userId,
    );
    expect(completed).toMatchObject({
      outcome: 'completed',
      rows: 1 + 1 + 41 + 1,
      files: 1,
      values: expect.any(Number),
      valuesPerSecond: expect.any(Number),
    });
    const logText = JSON.stringify(t.logs).toLowerCase();
    for (const secret of [
      user.email,
      'ada.contact@example.org',
      PROFILE.nationalId,
      rotatedKeys.recoveryCode,
    ]) {
      expect({
        secret,
        logged: logText.includes(secret.toLowerCase()),
      }).toEqual({ secret, logged: false });
    }

    // The old recovery code no longer opens anything; the new one does.
    const oldCode = await request(http()).post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: user.recoveryCode,
      newPassword: NEW_PASSWORD,
    });
    expectProblem(oldCode, 401, 'invalid_credentials');
    const newCode = await request(http()).post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: rotatedKeys.recoveryCode,
      newPassword: NEW_PASSWORD,
    });
    expect(newCode.status).toBe(200);
    const recovered = await login(http(), { ...user, password: NEW_PASSWORD });
    const profileAfterRecovery = await request(http())
      .get('/v1/me/profile')
      .set(...bearer(recovered.accessToken));
    expect(profileAfterRecovery.body).toMatchObject(PROFILE);
  });

  it('serves reads throughout a rotation, answers 409 to a second rotate, and rotates again once done', async () => {
    const user = await registerAndLogin(http(), { profile: PROFILE });
    await seedContacts(t, user.userId, user.password, 3000);

    const first = await rotate(user);
    expect(first.status).toBe(200);
    const second = await rotate(user);
    expectProblem(second, 409, 'rotation_in_progress', [user.password]);

    // Reads (pages, one row, blind-index searches, the account) while the job runs.
    let reads = 0;
    let readsWhileMixed = 0;
    let sawRotation = 0;
    while (await rotationPending(user.userId)) {
      const mixed =
        (await storedKeyVersions(user.userId)).get('contacts.full_name')
          ?.size === 2;
      const n = (reads * 37) % 3000;
      const [page, search, me] = await Promise.all([
        request(http())
          .get('/v1/contacts')
          .query({ limit: 100 })
          .set(...bearer(user.accessToken)),
        request(http())
          .get('/v1/contacts')
          .query({ email: seededContact(n).email })
          .set(...bearer(user.accessToken)),
        request(http())
          .get('/v1/me')
          .set(...bearer(user.accessToken)),
      ]);
      expect([page.status, search.status, me.status]).toEqual([200, 200, 200]);
      expect(bodyOf<ContactPageDto>(page).items).toHaveLength(100);
      expect(bodyOf<ContactPageDto>(search).items).toEqual([
        expect.objectContaining(seededContact(n)),
      ]);
      const account = bodyOf<MeDto>(me);
      expect(account.email).toBe(user.email);
      // The account shows the rotation while it runs (it may just have ended).
      if (account.keyRotation !== null) {
        expect(account.keyRotation).toMatchObject({
          fromVersion: 1,
          toVersion: 2,
          startedAt: expect.any(String),
        });
        sawRotation++;
      }
      reads++;
      if (mixed) readsWhileMixed++;
    }
    expect(reads).toBeGreaterThan(0);
    expect(readsWhileMixed).toBeGreaterThan(0);
    expect(sawRotation).toBeGreaterThan(0);
    expect(
      [...(await storedKeyVersions(user.userId)).values()].every(
        (versions) => versions.size === 1 && versions.has(2),
      ),
    ).toBe(true);

    // Once finished, a new rotation is accepted (v3) and leaves only v3.
    const third = await rotate(user);
    expect(third.status).toBe(200);
    expect(bodyOf<RotatedKeysDto>(third).keyVersion).toBe(3);
    await waitForRotation(user.userId);
    const keys = await t.dataSource.query<{ key_version: number }[]>(
      'SELECT key_version FROM user_data_keys WHERE user_id = $1',
      [user.userId],
    );
    expect(keys).toEqual([{ key_version: 3 }]);
    const check = await request(http())
      .get('/v1/contacts')
      .query({ email: seededContact(2999).email })
      .set(...bearer(user.accessToken));
    expect(bodyOf<ContactPageDto>(check).items).toEqual([
      expect.objectContaining(seededContact(2999)),
    ]);
  });

  it('a wrong password answers 401 invalid_credentials, audited, and changes nothing', async () => {
    const user = await registerAndLogin(http());
    const response = await rotate(user, {
      password: 'not the password at all',
    });
    expectProblem(response, 401, 'invalid_credentials', [
      'not the password at all',
    ]);
    expect(await rotationPending(user.userId)).toBe(false);
    const me = await request(http())
      .get('/v1/me')
      .set(...bearer(user.accessToken));
    expect(bodyOf<MeDto>(me).keyVersion).toBe(1);
    const audit = await t.dataSource.query<{ outcome: string }[]>(
      `SELECT outcome FROM audit_events WHERE event = 'keys.rotate' AND user_id = $1`,
      [user.userId],
    );
    expect(audit).toEqual([{ outcome: 'failure' }]);
  });

  it('rejects bad input with 400 problem+json and an unauthenticated call with 401', async () => {
    const user = await registerAndLogin(http());
    const cases: [unknown, string[]][] = [
      [{}, ['password']],
      [{ password: 12345678901234 }, ['password']],
      [{ password: null }, ['password']],
      [{ password: ['a'] }, ['password']],
      [{ password: STRONG_PASSWORD, extra: true }, ['extra']],
      [{ password: '' }, ['password']],
    ];
    for (const [body, fields] of cases) {
      const response = await rotate(user, body);
      expectProblem(response, 400, 'validation_failed', [STRONG_PASSWORD]);
      expect(errorFields(response)).toEqual(fields);
    }
    const notJson = await request(http())
      .post('/v1/me/keys/rotate')
      .set(...bearer(user.accessToken))
      .set('Content-Type', 'application/json')
      .send('{"password":');
    expectProblem(notJson, 400, 'malformed_json');
    const anonymous = await request(http())
      .post('/v1/me/keys/rotate')
      .send({ password: STRONG_PASSWORD });
    expect(anonymous.status).toBe(401);
    expect(await rotationPending(user.userId)).toBe(false);
  });
});
