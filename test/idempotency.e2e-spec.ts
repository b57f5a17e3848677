import { expect } from '@jest/globals';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import type { Response } from 'supertest';
import type { RegisteredDto, TokenPairDto } from '../src/auth/dto/auth.dto';
import { PasswordKdf } from '../src/auth/kdf/password-kdf';
import type { ContactDto } from '../src/contacts/dto/contact.dto';
import { advisoryLockKey } from '@vault-pii/nest-encryption';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import { IdempotencyPurgeService } from '../src/idempotency/idempotency-purge.service';
import {
  deriveOutcomeKeys,
  idempotencyRecordId,
  requestFingerprint,
} from '../src/idempotency/idempotency-secrets';
import {
  IDEMPOTENCY_MISMATCH_LIMIT,
  IDEMPOTENCY_RECORD_TTL_SECONDS,
} from '../src/idempotency/idempotency.service';
import type { RotatedKeysDto } from '../src/key-rotation/dto/rotated-keys.dto';
import {
  bearer,
  LoggedInUser,
  login,
  registerAndLogin,
  registerUser,
  STRONG_PASSWORD,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';
import { withPgClient } from './support/test-database';
import { waitUntil } from './support/wait-until';

/** Small, so that the 409 `limit_reached` case is cheap; each test uses fresh users. */
const CONTACTS_LIMIT = 4;

interface RecordRow {
  id: Buffer;
  state: string;
  fingerprint: Buffer;
  lease_token: Buffer | null;
  response_status: number | null;
  response_envelope: Buffer | null;
}

function claimsOf(accessToken: string): { sid: string; cs: string } {
  return JSON.parse(
    Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8'),
  ) as { sid: string; cs: string };
}

/** The hex SHA-256 of the token's `sid`: the session's key id (docs/sessions.md). */
function sessionKeyIdOf(accessToken: string): string {
  return createHash('sha256')
    .update(Buffer.from(claimsOf(accessToken).sid, 'base64url'))
    .digest('hex');
}

/** The session's client share, which the access token carries (`cs`). */
function clientShareOf(accessToken: string): Buffer {
  return Buffer.from(claimsOf(accessToken).cs, 'base64url');
}

describe('Idempotency-Key (docs/http-api.md#idempotency, issue 18)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const server = () => t.app.getHttpServer();

  const postContact = (
    user: Pick<LoggedInUser, 'accessToken'>,
    body: object,
    key?: string | string[],
  ) => {
    const call = http()
      .post('/v1/contacts')
      .set(...bearer(user.accessToken));
    // An array sends one header line per value.
    if (key !== undefined) void call.set('Idempotency-Key', key as string);
    return call.send(body);
  };
  /** An authenticated POST with an `Idempotency-Key`. */
  const postWithKey = (
    path: string,
    user: Pick<LoggedInUser, 'accessToken'>,
    key: string,
    body: object,
  ) =>
    http()
      .post(path)
      .set(...bearer(user.accessToken))
      .set('Idempotency-Key', key)
      .send(body);
  const records = () =>
    t.dataSource.query<RecordRow[]>('SELECT * FROM idempotency_records');
  const contactCount = async (user: LoggedInUser) =>
    Number(
      (
        await t.dataSource.query<{ count: string }[]>(
          'SELECT count(*) FROM contacts WHERE owner_id = $1',
          [user.userId],
        )
      )[0].count,
    );
  const recordIdFor = (route: string, accessToken: string, key: string) =>
    idempotencyRecordId(
      t.config.serverSecrets.idempotencyKey,
      route,
      `session:${sessionKeyIdOf(accessToken)}`,
      key,
    );

  /**
   * Every column of every record, as PostgreSQL prints it (bytea as hex), holds none of `secrets`:
   * neither as text nor as the hex of its UTF-8 bytes, nor inside any decoded byte string.
   */
  const expectStoredNowhere = async (secrets: string[]) => {
    const rows = await t.dataSource.query<{ row: string }[]>(
      'SELECT r::text AS row FROM idempotency_records r',
    );
    expect(rows.length).toBeGreaterThan(0);
    const text = rows.map(({ row }) => row).join('\n');
    const decoded = (text.match(/[0-9a-f]{16,}/g) ?? [])
      .map((hex) => Buffer.from(hex, 'hex').toString('latin1'))
      .join('\n');
    for (const secret of secrets) {
      const hex = Buffer.from(secret).toString('hex');
      expect({
        secret,
        text: text.includes(secret),
        hex: text.includes(hex),
        decoded: decoded.includes(secret),
      }).toEqual({ secret, text: false, hex: false, decoded: false });
    }
  };

  /** Fixed, so that a second instance with another argon2id cost can share the database. */
  const masterKey = randomBytes(32).toString('base64');

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        APP_MASTER_KEY: masterKey,
        LOGIN_FAILURE_LIMIT: '100000',
        CONTACTS_PER_USER_LIMIT: String(CONTACTS_LIMIT),
      },
    });
  });
  afterAll(() => t?.close());
  beforeEach(() => t.dataSource.query('DELETE FROM idempotency_records'));

  const expectReplayOf = (replay: Response, first: Response) => {
    expect(replay.status).toBe(first.status);
    expect(replay.text).toBe(first.text);
    expect(replay.headers['idempotency-replayed']).toBe('true');
    expect(replay.headers['cache-control']).toBe(
      first.headers['cache-control'],
    );
    expect(replay.headers['content-type']).toBe(first.headers['content-type']);
    expect(replay.headers.location).toBe(first.headers.location);
  };

  describe('POST /v1/contacts', () => {
    it('a replay returns the first contact (same id and body) and creates one row; a quoted and a bare key are one key', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Ada Lovelace', email: 'ada@example.org' };
      const first = await postContact(user, body, `"${key}"`);
      expect(first.status).toBe(201);
      expect(first.headers['idempotency-replayed']).toBeUndefined();
      expect(first.headers.location).toBe(
        `/v1/contacts/${bodyOf<ContactDto>(first).id}`,
      );

      const replay = await postContact(user, body, key);
      expectReplayOf(replay, first);
      expect(bodyOf<ContactDto>(replay).id).toBe(bodyOf<ContactDto>(first).id);
      // The same body with its fields in another order is the same request.
      const reordered = await postContact(
        user,
        { email: 'ada@example.org', fullName: 'Ada Lovelace' },
        key,
      );
      expectReplayOf(reordered, first);
      expect(await contactCount(user)).toBe(1);

      // One record, named by an HMAC of route, session and key: the key itself is not stored.
      const rows = await records();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        state: 'completed',
        response_status: 201,
        lease_token: null,
      });
      expect(rows[0].id).toEqual(
        recordIdFor('POST /v1/contacts', user.accessToken, key),
      );
    });

    it('the same key with another body answers 422 idempotency_key_reused and creates nothing', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      expect(
        (await postContact(user, { fullName: 'Grace Hopper' }, key)).status,
      ).toBe(201);
      const other = await postContact(user, { fullName: 'Grace Murray' }, key);
      expectProblem(other, 422, 'idempotency_key_reused', ['Grace', key]);
      expect(await contactCount(user)).toBe(1);
    });

    it('a duplicate while the first still runs answers 409 with Retry-After; the first then completes and is replayed', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Katherine Johnson' };
      await withPgClient(t.database.url, async (locker) => {
        // The create takes this per-user lock first: holding it keeps the first request inside
        // its handler, its record in progress, for as long as the test needs.
        await locker.query('SELECT pg_advisory_lock($1::bigint)', [
          advisoryLockKey('contacts.create', user.userId),
        ]);
        const firstPending = postContact(user, body, key).then((r) => r);
        await waitUntil('the first create waits for the lock', async () => {
          const [{ waiting }] = await locker
            .query<{ waiting: number }>(
              "SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .then((result) => result.rows);
          return waiting === 1;
        });
        const duplicate = await postContact(user, body, key);
        expectProblem(duplicate, 409, 'idempotency_request_in_progress');
        expect(Number(duplicate.headers['retry-after'])).toBeGreaterThanOrEqual(
          1,
        );
        expect(Number(duplicate.headers['retry-after'])).toBeLessThanOrEqual(
          60,
        );
        await locker.query('SELECT pg_advisory_unlock($1::bigint)', [
          advisoryLockKey('contacts.create', user.userId),
        ]);
        const first = await firstPending;
        expect(first.status).toBe(201);
        expectReplayOf(await postContact(user, body, key), first);
      });
      expect(await contactCount(user)).toBe(1);
    });

    it('keys are scoped to the session: another session of the same user, or another user, with the same key creates its own contact', async () => {
      const user = await registerAndLogin(server());
      const otherSession = await login(server(), user);
      const otherUser = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Hedy Lamarr' };
      const responses = [
        await postContact(user, body, key),
        await postContact(otherSession, body, key),
        await postContact(otherUser, body, key),
      ];
      for (const response of responses) {
        expect(response.status).toBe(201);
        expect(response.headers['idempotency-replayed']).toBeUndefined();
      }
      expect(new Set(responses.map((r) => bodyOf<ContactDto>(r).id)).size).toBe(
        3,
      );
      expect(await contactCount(user)).toBe(2);
      // The fingerprint is keyed by the session's client share: one body, two sessions, two
      // fingerprints (a table dump plus the server's secrets cannot test guesses of a body).
      const rows = await records();
      expect(rows).toHaveLength(3);
      expect(new Set(rows.map((r) => r.fingerprint.toString('hex'))).size).toBe(
        3,
      );
    });

    it('a refresh of the session keeps its records (the client share does not change)', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Mary Jackson' };
      const first = await postContact(user, body, key);
      const refreshed = await http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: user.refreshToken });
      expect(refreshed.status).toBe(200);
      const replay = await postContact(
        { accessToken: bodyOf<TokenPairDto>(refreshed).accessToken },
        body,
        key,
      );
      expectReplayOf(replay, first);
    });

    it('the stored row holds no plaintext: not the name, the email, the key or the token', async () => {
      const user = await registerAndLogin(server());
      const key = `canary-key-${randomUUID()}`;
      const body = {
        fullName: 'Canary Fullname Zyxw',
        email: 'canary.zyxw@example.org',
        phone: '+15550109999',
        notes: 'canary-notes-qrst',
      };
      const first = await postContact(user, body, key);
      expect(first.status).toBe(201);
      await expectStoredNowhere([
        body.fullName,
        body.email,
        body.notes,
        body.phone,
        key,
        bodyOf<ContactDto>(first).id,
        user.accessToken.split('.')[1],
      ]);
    });

    it('a failed request leaves no record, so a retry runs again: 400 validation, 409 limit_reached', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const invalid = await postContact(user, { fullName: '' }, key);
      expectProblem(invalid, 400, 'validation_failed');
      expect(await records()).toHaveLength(0);
      // Unknown fields: rejected by validation too, the record released.
      expectProblem(
        await postContact(user, { fullName: 'x', extra: 1 }, key),
        400,
        'validation_failed',
      );
      expect(await records()).toHaveLength(0);

      for (let i = 0; i < CONTACTS_LIMIT; i++)
        expect(
          (await postContact(user, { fullName: `Contact ${i}` })).status,
        ).toBe(201);
      const overLimit = await postContact(user, { fullName: 'One more' }, key);
      expect(overLimit.status).toBe(409);
      expect(bodyOf<{ code: string }>(overLimit).code).toBe('limit_reached');
      expect(await records()).toHaveLength(0);

      const page = await http()
        .get('/v1/contacts?limit=1')
        .set(...bearer(user.accessToken));
      const [oldest] = bodyOf<{ items: ContactDto[] }>(page).items;
      expect(
        (
          await http()
            .delete(`/v1/contacts/${oldest.id}`)
            .set(...bearer(user.accessToken))
        ).status,
      ).toBe(204);
      const retried = await postContact(user, { fullName: 'One more' }, key);
      expect(retried.status).toBe(201);
      expect(retried.headers['idempotency-replayed']).toBeUndefined();
    });

    it('a record left in progress by a request that died is taken over once its lease ran out', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Dorothy Vaughan' };
      // What a first request killed inside its handler leaves: its record, in progress. Written
      // here with the server's HMAC, as the app would name it.
      const recordId = recordIdFor('POST /v1/contacts', user.accessToken, key);
      const keys = deriveOutcomeKeys(
        clientShareOf(user.accessToken),
        t.config.serverSecrets.idempotencyKey,
        recordId,
      );
      const fingerprint = requestFingerprint(
        keys.fingerprintKey,
        'POST',
        '/v1/contacts',
        body,
      );
      keys.zero();
      const insertInProgress = (lease: string) =>
        t.dataSource.query(
          `INSERT INTO idempotency_records (id, state, fingerprint, lease_token, lease_expires_at, expires_at)
           VALUES ($1, 'in_progress', $2, $3, now() + $4::interval, now() + interval '1 day')`,
          [recordId, fingerprint, Buffer.alloc(16, 1), lease],
        );
      await insertInProgress('30 seconds');
      // Its lease is alive: the first request may still be running.
      expectProblem(
        await postContact(user, body, key),
        409,
        'idempotency_request_in_progress',
      );
      await t.dataSource.query('DELETE FROM idempotency_records');

      await insertInProgress('-1 second');
      const retried = await postContact(user, body, key);
      expect(retried.status).toBe(201);
      expect(retried.headers['idempotency-replayed']).toBeUndefined();
      expect(await records()).toEqual([
        expect.objectContaining({ state: 'completed', response_status: 201 }),
      ]);
      expectReplayOf(await postContact(user, body, key), retried);
      expect(await contactCount(user)).toBe(1);
    });

    it('a live in-progress record of the same request answers 409 until its lease ends', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Annie Easley' };
      const first = await postContact(user, body, key);
      // Turn the completed record back into one whose first request is still running.
      await t.dataSource.query(
        "UPDATE idempotency_records SET state = 'in_progress', response_status = NULL, response_envelope = NULL, lease_expires_at = now() + interval '20 seconds'",
      );
      const duplicate = await postContact(user, body, key);
      expectProblem(duplicate, 409, 'idempotency_request_in_progress');
      expect(Number(duplicate.headers['retry-after'])).toBeGreaterThanOrEqual(
        19,
      );
      await t.dataSource.query(
        "UPDATE idempotency_records SET lease_expires_at = now() - interval '1 second'",
      );
      const taken = await postContact(user, body, key);
      expect(taken.status).toBe(201);
      expect(bodyOf<ContactDto>(taken).id).not.toBe(
        bodyOf<ContactDto>(first).id,
      );
    });

    it('an expired record is ignored (the request runs again) and purged by the job', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const body = { fullName: 'Evelyn Boyd' };
      const first = await postContact(user, body, key);
      const kept = await postContact(user, { fullName: 'Kept' }, randomUUID());
      expect([first.status, kept.status]).toEqual([201, 201]);
      await t.dataSource.query(
        "UPDATE idempotency_records SET expires_at = now() - interval '1 second' WHERE id = $1",
        [recordIdFor('POST /v1/contacts', user.accessToken, key)],
      );
      const again = await postContact(user, body, key);
      expect(again.status).toBe(201);
      expect(again.headers['idempotency-replayed']).toBeUndefined();
      expect(bodyOf<ContactDto>(again).id).not.toBe(
        bodyOf<ContactDto>(first).id,
      );

      // The job deletes what expired by its clock, nothing else.
      await t.dataSource.query(
        "UPDATE idempotency_records SET expires_at = now() - interval '1 second' WHERE id = $1",
        [recordIdFor('POST /v1/contacts', user.accessToken, key)],
      );
      const purge = t.app.get(IdempotencyPurgeService);
      expect(await purge.run(new Date())).toEqual({ deleted: 1, batches: 1 });
      expect(await records()).toHaveLength(1);
      expect(
        await purge.run(
          new Date(Date.now() + (IDEMPOTENCY_RECORD_TTL_SECONDS + 60) * 1000),
        ),
      ).toEqual({ deleted: 1, batches: 1 });
      expect(await records()).toHaveLength(0);
    });

    it.each([
      ['empty', ''],
      ['empty quoted', '""'],
      ['256 characters', 'k'.repeat(256)],
      ['a space', 'two words'],
      ['a non-ASCII byte', 'cl\u00e9'],
      ['a broken quoted string', '"unterminated'],
      ['two header lines', ['"one"', '"two"']],
    ])(
      'a bad key (%s) answers 400 invalid_idempotency_key and changes nothing',
      async (_name, value) => {
        const user = await registerAndLogin(server());
        const response = await postContact(user, { fullName: 'X' }, value);
        expectProblem(response, 400, 'invalid_idempotency_key', [
          ...(Array.isArray(value) ? value : [value]).filter(
            (v) => v.length > 3,
          ),
        ]);
        expect(await contactCount(user)).toBe(0);
        expect(await records()).toHaveLength(0);
      },
    );

    it('without the header, every request runs (today’s behaviour)', async () => {
      const user = await registerAndLogin(server());
      const body = { fullName: 'No Key' };
      expect((await postContact(user, body)).status).toBe(201);
      expect((await postContact(user, body)).status).toBe(201);
      expect(await contactCount(user)).toBe(2);
      expect(await records()).toHaveLength(0);
    });

    it('a bad key on an unauthenticated request is still a 401 (guards first)', async () => {
      const response = await http()
        .post('/v1/contacts')
        .set('Idempotency-Key', '')
        .send({ fullName: 'X' });
      expectProblem(response, 401, 'invalid_token');
    });
  });

  describe('POST /v1/auth/refresh', () => {
    const refresh = (refreshToken: string, key?: string) => {
      const call = http().post('/v1/auth/refresh');
      if (key !== undefined) void call.set('Idempotency-Key', key);
      return call.send({ refreshToken });
    };
    const reuseEvents = async (userId: string) =>
      Number(
        (
          await t.dataSource.query<{ count: string }[]>(
            "SELECT count(*) FROM audit_events WHERE event = 'auth.refresh_reuse' AND user_id = $1",
            [userId],
          )
        )[0].count,
      );

    it('a replay with the same token and key returns the same pair and is not taken for token reuse', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const first = await refresh(user.refreshToken, key);
      expect(first.status).toBe(200);
      const replay = await refresh(user.refreshToken, key);
      expectReplayOf(replay, first);
      expect(bodyOf<TokenPairDto>(replay)).toEqual(bodyOf<TokenPairDto>(first));
      expect(await reuseEvents(user.userId)).toBe(0);

      // The session lives on: the replayed pair works, its refresh token rotates once more.
      const pair = bodyOf<TokenPairDto>(replay);
      expect(
        (
          await http()
            .get('/v1/me')
            .set(...bearer(pair.accessToken))
        ).status,
      ).toBe(200);
      expect((await refresh(pair.refreshToken)).status).toBe(200);

      // The row holds neither token.
      await expectStoredNowhere([
        user.refreshToken,
        pair.refreshToken,
        pair.accessToken.split('.')[2],
      ]);
    });

    it('without the key, a second refresh with the same token is still reuse and revokes the session', async () => {
      const user = await registerAndLogin(server());
      expect((await refresh(user.refreshToken)).status).toBe(200);
      expectProblem(await refresh(user.refreshToken), 401, 'invalid_token');
      expect(await reuseEvents(user.userId)).toBe(1);
    });

    it('the same key with another refresh token is another record (scoped by the token)', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const first = await refresh(user.refreshToken, key);
      const next = await refresh(bodyOf<TokenPairDto>(first).refreshToken, key);
      expect(next.status).toBe(200);
      expect(next.headers['idempotency-replayed']).toBeUndefined();
      expect(bodyOf<TokenPairDto>(next).refreshToken).not.toBe(
        bodyOf<TokenPairDto>(first).refreshToken,
      );
    });

    it('a refused refresh (unknown token) leaves no record', async () => {
      const response = await refresh('A'.repeat(87), randomUUID());
      expectProblem(response, 401, 'invalid_token');
      expect(await records()).toHaveLength(0);
    });
  });

  describe('POST /v1/auth/recover (keyed by the recovery code)', () => {
    const recover = (body: object, key: string) =>
      http().post('/v1/auth/recover').set('Idempotency-Key', key).send(body);

    it('a replay returns the same new recovery code although the old code no longer works', async () => {
      const user = await registerUser(server());
      const key = randomUUID();
      const body = {
        email: user.email,
        recoveryCode: user.recoveryCode,
        newPassword: `Recovered canary passphrase ${randomUUID()}`,
      };
      const first = await recover(body, key);
      expect(first.status).toBe(200);
      const replay = await recover(body, key);
      expectReplayOf(replay, first);
      expect(bodyOf<{ recoveryCode: string }>(replay).recoveryCode).toBe(
        bodyOf<{ recoveryCode: string }>(first).recoveryCode,
      );
      // Run again, the spent code would be refused: another key shows it.
      expectProblem(
        await recover(body, randomUUID()),
        401,
        'invalid_credentials',
      );
      expectProblem(
        await recover({ ...body, newPassword: `${body.newPassword}!` }, key),
        422,
        'idempotency_key_reused',
      );
      await login(server(), { ...user, password: body.newPassword });
      await expectStoredNowhere([
        user.recoveryCode,
        body.newPassword,
        bodyOf<{ recoveryCode: string }>(first).recoveryCode,
        user.email,
        key,
      ]);
    });
  });

  describe('POST /v1/auth/password and /v1/me/keys/rotate', () => {
    it('a password change replays its 204 without checking the password again; the row holds no password', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const newPassword = `Fresh canary passphrase ${randomUUID()}`;
      const body = { currentPassword: user.password, newPassword };
      const change = () => postWithKey('/v1/auth/password', user, key, body);
      const first = await change();
      expect(first.status).toBe(204);
      // Run again, it would fail: the current password is not `user.password` any more.
      const replay = await change();
      expect(replay.status).toBe(204);
      expect(replay.headers['idempotency-replayed']).toBe('true');
      expect(replay.text).toBe('');
      await login(server(), { ...user, password: newPassword });

      await expectStoredNowhere([user.password, newPassword, key]);
    });

    it(`guesses of the body under a known key are bounded: after ${IDEMPOTENCY_MISMATCH_LIMIT} mismatches even the right body gets 422`, async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const rotate = (password: string) =>
        postWithKey('/v1/me/keys/rotate', user, key, { password });
      const first = await rotate(user.password);
      expect(first.status).toBe(200);
      expectReplayOf(await rotate(user.password), first);
      for (let i = 0; i < IDEMPOTENCY_MISMATCH_LIMIT; i++)
        expectProblem(
          await rotate(`wrong guess ${i}`),
          422,
          'idempotency_key_reused',
        );
      expectProblem(
        await rotate(user.password),
        422,
        'idempotency_key_reused',
        [user.password],
      );
    });

    it('a key rotation replays its answer (same version and recovery code) instead of rotating again', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const rotate = () =>
        postWithKey('/v1/me/keys/rotate', user, key, {
          password: user.password,
        });
      const first = await rotate();
      expect(first.status).toBe(200);
      const replay = await rotate();
      expectReplayOf(replay, first);
      expect(bodyOf<RotatedKeysDto>(replay)).toEqual(
        bodyOf<RotatedKeysDto>(first),
      );
      const me = await http()
        .get('/v1/me')
        .set(...bearer(user.accessToken));
      expect(bodyOf<{ keyVersion: number }>(me).keyVersion).toBe(
        bodyOf<RotatedKeysDto>(first).keyVersion,
      );
      await expectStoredNowhere([bodyOf<RotatedKeysDto>(first).recoveryCode]);
    });
  });

  describe('POST /v1/documents', () => {
    it('a replay returns the first document and renders nothing more', async () => {
      const user = await registerAndLogin(server());
      const key = randomUUID();
      const create = () =>
        postWithKey('/v1/documents', user, key, { kind: 'profile-summary' });
      const first = await create();
      expect(first.status).toBe(201);
      const replay = await create();
      expectReplayOf(replay, first);
      expect(bodyOf<DocumentDto>(replay).id).toBe(
        bodyOf<DocumentDto>(first).id,
      );
      const [{ count }] = await t.dataSource.query<{ count: string }[]>(
        'SELECT count(*) FROM documents WHERE owner_id = $1',
        [user.userId],
      );
      expect(Number(count)).toBe(1);
    });
  });

  it('the OpenAPI document shows the header and its problems on the idempotent routes only', async () => {
    const document = bodyOf<{
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { name: string; in: string }[];
            responses: Record<string, unknown>;
          }
        >
      >;
    }>(await http().get('/docs-json'));
    const idempotent = [
      ['/v1/contacts', 'post'],
      ['/v1/documents', 'post'],
      ['/v1/auth/password', 'post'],
      ['/v1/auth/refresh', 'post'],
      ['/v1/me/keys/rotate', 'post'],
      ['/v1/auth/recover', 'post'],
      ['/v1/auth/register', 'post'],
      ['/v1/auth/login', 'post'],
    ];
    for (const [path, method] of idempotent) {
      const operation = document.paths[path][method];
      expect({
        path,
        header: operation.parameters?.some(
          (p) => p.name === 'Idempotency-Key' && p.in === 'header',
        ),
        statuses: ['400', '409', '422'].every(
          (status) => status in operation.responses,
        ),
      }).toEqual({ path, header: true, statuses: true });
    }
    for (const [path, method] of [
      ['/v1/auth/logout', 'post'],
      ['/v1/auth/sessions/{id}', 'delete'],
      ['/v1/contacts/{id}', 'patch'],
    ]) {
      expect(
        document.paths[path][method].parameters?.some(
          (p) => p.name === 'Idempotency-Key',
        ) ?? false,
      ).toBe(false);
    }
  });

  describe('POST /v1/auth/register and /v1/auth/login (keyed by the password’s argon2id output)', () => {
    afterEach(() => jest.restoreAllMocks());
    const argon2Calls = (app: TestApp = t) =>
      jest.spyOn(app.app.get(PasswordKdf), 'deriveMasterKey');
    const postPublic = (
      path: string,
      key: string,
      body: object,
      app: TestApp = t,
    ) =>
      request(app.app.getHttpServer())
        .post(path)
        .set('Idempotency-Key', key)
        .send(body);
    const newEmail = () => `idem.${randomUUID()}@example.org`;
    const count = async (sql: string, params: unknown[] = []) =>
      Number(
        (await t.dataSource.query<{ count: string }[]>(sql, params))[0].count,
      );
    const userCount = () => count('SELECT count(*) FROM users');
    const sessionCount = (userId: string) =>
      count('SELECT count(*) FROM sessions WHERE user_id = $1', [userId]);
    const failedChecks = (event: string, userId: string) =>
      count(
        "SELECT count(*) FROM audit_events WHERE event = $1 AND outcome = 'failure' AND user_id = $2",
        [event, userId],
      );

    it('a register replay returns the same userId and recovery code, creates one user and costs exactly one argon2id', async () => {
      const key = randomUUID();
      const body = {
        email: newEmail(),
        password: STRONG_PASSWORD,
        profile: { fullName: 'Ada Lovelace' },
      };
      const users = await userCount();
      const first = await postPublic('/v1/auth/register', key, body);
      expect(first.status).toBe(201);
      expect(first.headers['idempotency-replayed']).toBeUndefined();

      const calls = argon2Calls();
      const replay = await postPublic('/v1/auth/register', key, body);
      expectReplayOf(replay, first);
      expect(bodyOf<RegisteredDto>(replay)).toEqual(
        bodyOf<RegisteredDto>(first),
      );
      expect(calls).toHaveBeenCalledTimes(1);
      expect(await userCount()).toBe(users + 1);
      // Scoped by the canonical email: the record id is an HMAC of route, email and key.
      const rows = await records();
      expect(rows).toHaveLength(1);
      expect(rows[0].id).toEqual(
        idempotencyRecordId(
          t.config.serverSecrets.idempotencyKey,
          'POST /v1/auth/register',
          `email:${body.email}`,
          key,
        ),
      );
      // Without the key, the same register is refused as before.
      expectProblem(
        await http().post('/v1/auth/register').send(body),
        409,
        'email_taken',
      );
    });

    it('a register replay with another password answers 422, is counted as a failed password check and reveals nothing', async () => {
      const key = randomUUID();
      const body = { email: newEmail(), password: STRONG_PASSWORD };
      const first = await postPublic('/v1/auth/register', key, body);
      expect(first.status).toBe(201);
      const { userId, recoveryCode } = bodyOf<RegisteredDto>(first);
      const calls = argon2Calls();
      const guess = await postPublic('/v1/auth/register', key, {
        ...body,
        password: `${STRONG_PASSWORD} guess`,
      });
      expectProblem(guess, 422, 'idempotency_key_reused', [
        userId,
        recoveryCode,
      ]);
      expect(calls).toHaveBeenCalledTimes(1);
      expect(await failedChecks('auth.register', userId)).toBe(1);
    });

    it('a replay for an account that no longer exists answers 422 like a wrong password, after one (dummy) argon2id', async () => {
      const key = randomUUID();
      const body = { email: newEmail(), password: STRONG_PASSWORD };
      const first = await postPublic('/v1/auth/register', key, body);
      await t.dataSource.query('DELETE FROM users WHERE id = $1', [
        bodyOf<RegisteredDto>(first).userId,
      ]);
      const calls = argon2Calls();
      expectProblem(
        await postPublic('/v1/auth/register', key, body),
        422,
        'idempotency_key_reused',
      );
      expect(calls).toHaveBeenCalledTimes(1);
    });

    it('a duplicate while the first register runs answers 409 whatever its body; the first then completes and is replayed', async () => {
      const key = randomUUID();
      const body = { email: newEmail(), password: STRONG_PASSWORD };
      const kdf = t.app.get(PasswordKdf);
      const derive = kdf.deriveMasterKey.bind(kdf);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      // The first register's argon2id waits for the test: its record stays in progress.
      const held = jest
        .spyOn(kdf, 'deriveMasterKey')
        .mockImplementationOnce(async (...args) => {
          await gate;
          return derive(...args);
        });
      const firstPending = postPublic('/v1/auth/register', key, body).then(
        (r) => r,
      );
      await waitUntil('the first register is in argon2id', () =>
        Promise.resolve(held.mock.calls.length === 1),
      );
      for (const duplicateBody of [
        body,
        { ...body, password: 'another password entirely' },
      ]) {
        const duplicate = await postPublic(
          '/v1/auth/register',
          key,
          duplicateBody,
        );
        expectProblem(duplicate, 409, 'idempotency_request_in_progress');
        expect(Number(duplicate.headers['retry-after'])).toBeGreaterThanOrEqual(
          1,
        );
      }
      expect(held).toHaveBeenCalledTimes(1);
      release();
      const first = await firstPending;
      expect(first.status).toBe(201);
      expectReplayOf(await postPublic('/v1/auth/register', key, body), first);
    });

    it('a login replay returns the same token pair, opens one session and costs exactly one argon2id', async () => {
      const user = await registerUser(server());
      const key = randomUUID();
      const body = { email: user.email, password: user.password };
      const first = await postPublic('/v1/auth/login', key, body);
      expect(first.status).toBe(200);
      const calls = argon2Calls();
      const replay = await postPublic('/v1/auth/login', key, body);
      expectReplayOf(replay, first);
      expect(bodyOf<TokenPairDto>(replay)).toEqual(bodyOf<TokenPairDto>(first));
      expect(calls).toHaveBeenCalledTimes(1);
      expect(await sessionCount(user.userId)).toBe(1);
      const me = await http()
        .get('/v1/me')
        .set(...bearer(bodyOf<TokenPairDto>(replay).accessToken));
      expect(me.status).toBe(200);
    });

    it('a login replay with a wrong password answers 422 and is counted and audited as a failed login', async () => {
      const user = await registerUser(server());
      const key = randomUUID();
      const body = { email: user.email, password: user.password };
      const first = await postPublic('/v1/auth/login', key, body);
      expect(first.status).toBe(200);
      const { accessToken, refreshToken } = bodyOf<TokenPairDto>(first);
      const guess = await postPublic('/v1/auth/login', key, {
        ...body,
        password: 'wrong guess',
      });
      expectProblem(guess, 422, 'idempotency_key_reused', [
        accessToken,
        refreshToken,
      ]);
      expect(await failedChecks('auth.login', user.userId)).toBe(1);
      expect(await sessionCount(user.userId)).toBe(1);
    });

    it('after a password change, a login replay with the old key runs as a new login (and its answer replaces the record); the old password answers 422', async () => {
      const user = await registerUser(server());
      const key = randomUUID();
      const first = await postPublic('/v1/auth/login', key, {
        email: user.email,
        password: user.password,
      });
      expect(first.status).toBe(200);
      const newPassword = `Changed canary passphrase ${randomUUID()}`;
      expect(
        (
          await http()
            .post('/v1/auth/password')
            .set(...bearer(bodyOf<TokenPairDto>(first).accessToken))
            .send({ currentPassword: user.password, newPassword })
        ).status,
      ).toBe(204);

      const body = { email: user.email, password: newPassword };
      const again = await postPublic('/v1/auth/login', key, body);
      expect(again.status).toBe(200);
      expect(again.headers['idempotency-replayed']).toBeUndefined();
      expect(bodyOf<TokenPairDto>(again).refreshToken).not.toBe(
        bodyOf<TokenPairDto>(first).refreshToken,
      );
      expect(await sessionCount(user.userId)).toBe(2);
      expectReplayOf(await postPublic('/v1/auth/login', key, body), again);
      expectProblem(
        await postPublic('/v1/auth/login', key, {
          email: user.email,
          password: user.password,
        }),
        422,
        'idempotency_key_reused',
      );
      expect(await sessionCount(user.userId)).toBe(2);
    });

    it('a register replay after a password change answers 409 email_taken (the record no longer opens)', async () => {
      const key = randomUUID();
      const body = { email: newEmail(), password: STRONG_PASSWORD };
      expect((await postPublic('/v1/auth/register', key, body)).status).toBe(
        201,
      );
      const session = await login(server(), {
        ...body,
        userId: '',
        recoveryCode: '',
      });
      const newPassword = `Changed canary passphrase ${randomUUID()}`;
      expect(
        (
          await http()
            .post('/v1/auth/password')
            .set(...bearer(session.accessToken))
            .send({ currentPassword: body.password, newPassword })
        ).status,
      ).toBe(204);
      expectProblem(
        await postPublic('/v1/auth/register', key, {
          ...body,
          password: newPassword,
        }),
        409,
        'email_taken',
      );
    });

    it('the rows hold no plaintext: not the email, password, recovery code, tokens or key', async () => {
      const key = randomUUID();
      const body = { email: newEmail(), password: STRONG_PASSWORD };
      const registered = bodyOf<RegisteredDto>(
        await postPublic('/v1/auth/register', key, body),
      );
      const pair = bodyOf<TokenPairDto>(
        await postPublic('/v1/auth/login', key, body),
      );
      expect((await records()).map((row) => row.state)).toEqual([
        'completed',
        'completed',
      ]);
      await expectStoredNowhere([
        body.email,
        body.password,
        registered.userId,
        registered.recoveryCode,
        pair.accessToken,
        pair.refreshToken,
        key,
      ]);
    });

    it('a body without a usable email or password is left to validation (400) and keeps no record; a bad key is 400 and registers nothing', async () => {
      const key = randomUUID();
      expectProblem(
        await postPublic('/v1/auth/login', key, { email: newEmail() }),
        400,
        'validation_failed',
      );
      expectProblem(
        await postPublic('/v1/auth/register', key, {
          email: 'not an email',
          password: STRONG_PASSWORD,
        }),
        400,
        'validation_failed',
      );
      expect(await records()).toHaveLength(0);
      const users = await userCount();
      expectProblem(
        await postPublic('/v1/auth/register', 'two words', {
          email: newEmail(),
          password: STRONG_PASSWORD,
        }),
        400,
        'invalid_idempotency_key',
      );
      expect(await userCount()).toBe(users);
    });

    it('a login that upgraded the argon2id cost seals under the upgraded derivation: its replay opens with one argon2id', async () => {
      const user = await registerUser(server());
      const upgraded = await createTestApp({
        sharedDatabase: t.database,
        env: {
          APP_MASTER_KEY: masterKey,
          LOGIN_FAILURE_LIMIT: '100000',
          ARGON2_ITERATIONS: '3',
        },
      });
      try {
        const key = randomUUID();
        const body = { email: user.email, password: user.password };
        const first = await postPublic('/v1/auth/login', key, body, upgraded);
        expect(first.status).toBe(200);
        const [{ kdf_params }] = await t.dataSource.query<
          { kdf_params: { iterations: number } }[]
        >('SELECT kdf_params FROM users WHERE id = $1', [user.userId]);
        expect(kdf_params.iterations).toBe(3);
        const calls = argon2Calls(upgraded);
        expectReplayOf(
          await postPublic('/v1/auth/login', key, body, upgraded),
          first,
        );
        expect(calls).toHaveBeenCalledTimes(1);
        expect(await sessionCount(user.userId)).toBe(1);
      } finally {
        await upgraded.close();
      }
    });

    describe('with LOGIN_FAILURE_LIMIT=3', () => {
      let limited: TestApp;
      beforeAll(async () => {
        limited = await createTestApp({ env: { LOGIN_FAILURE_LIMIT: '3' } });
      });
      afterAll(() => limited?.close());

      it('wrong passwords on register and login replays use up the account’s failures; then replays and logins answer 429', async () => {
        const email = newEmail();
        const registerKey = randomUUID();
        const loginKey = randomUUID();
        const body = { email, password: STRONG_PASSWORD };
        const wrong = { email, password: 'wrong guess' };
        const post = (path: string, key: string, sent: object) =>
          postPublic(path, key, sent, limited);
        expect(
          (await post('/v1/auth/register', registerKey, body)).status,
        ).toBe(201);
        expect((await post('/v1/auth/login', loginKey, body)).status).toBe(200);
        expectProblem(
          await post('/v1/auth/register', registerKey, wrong),
          422,
          'idempotency_key_reused',
        );
        for (let i = 0; i < 2; i++)
          expectProblem(
            await post('/v1/auth/login', loginKey, wrong),
            422,
            'idempotency_key_reused',
          );
        // Locked: even the right password, replayed or not, costs no argon2id and answers 429.
        const calls = argon2Calls(limited);
        for (const locked of [
          await post('/v1/auth/login', loginKey, body),
          await post('/v1/auth/register', registerKey, body),
          await request(limited.app.getHttpServer())
            .post('/v1/auth/login')
            .send(body),
        ]) {
          expect(locked.status).toBe(429);
          expect(bodyOf<{ code: string }>(locked).code).toBe(
            'too_many_requests',
          );
          expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
        }
        expect(calls).not.toHaveBeenCalled();
      });
    });
  });
});
