import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import type { ContactPageDto } from '../src/contacts/dto/contact.dto';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import type { RotatedKeysDto } from '../src/key-rotation/dto/rotated-keys.dto';
import { AppProcess, startAppProcess } from './support/app-process';
import {
  bearer,
  login,
  RegisteredUser,
  registerUser,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { seedContacts, seededContact } from './support/key-rotation-seed';
import { createTestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { waitUntil } from './support/wait-until';

/** Enough contacts (5 encrypted values each) that the rotation takes a few seconds here. */
const CONTACTS = Number(process.env.KEY_ROTATION_KILL_CONTACTS ?? 20_000);
const PROFILE = {
  fullName: 'Kill Test',
  nationalId: 'NI-KILL-0001',
  address: '9 Crash Road',
};
/** Every encrypted column of the schema, as raw SQL sees it (the in-process test discovers them from metadata). */
const ENCRYPTED_COLUMNS: [table: string, owner: string, columns: string[]][] = [
  ['users', 'id', ['email']],
  [
    'profiles',
    'user_id',
    ['full_name', 'date_of_birth', 'phone', 'address', 'national_id'],
  ],
  ['contacts', 'owner_id', ['full_name', 'email', 'phone', 'address', 'notes']],
  ['documents', 'owner_id', ['filename']],
];

/**
 * Issue 7: the app process is SIGKILLed at a random point of a large rotation; after a restart,
 * the user's next login finishes it — every ciphertext under the new version, the old key
 * destroyed, the data intact — and reads work before it has finished.
 */
describe('key rotation killed mid-way resumes after restart', () => {
  const masterKey = randomBytes(32).toString('base64');
  const dataDir = mkdtempSync(join(tmpdir(), 'e2e-rotation-kill-'));
  let database: TestDatabase;
  let db: Client;
  let user: RegisteredUser;
  let documentId: string;
  const processes: AppProcess[] = [];

  const env = () => ({
    DATABASE_URL: database.url,
    APP_MASTER_KEY: masterKey,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    AUTH_RATE_LIMIT: '100000',
  });

  async function start(): Promise<{ app: AppProcess; base: string }> {
    const app = await startAppProcess(env());
    processes.push(app);
    await app.waitForOutput(/listening on/, 60_000);
    return { app, base: `http://127.0.0.1:${app.port}` };
  }

  async function staleCount(version: number): Promise<number> {
    let total = 0;
    for (const [table, owner, columns] of ENCRYPTED_COLUMNS) {
      const stale = columns
        .map((column) => `substring(${column} from 3 for 4) <> $2`)
        .join(' OR ');
      const [{ count }] = (
        await db.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM ${table} WHERE ${owner} = $1 AND (${stale})`,
          [user.userId, versionBytes(version)],
        )
      ).rows;
      total += count;
    }
    return total;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    // Seed through an in-process app on the same database, DATA_DIR and master key.
    const seeder = await createTestApp({
      sharedDatabase: database,
      env: { APP_MASTER_KEY: masterKey, DATA_DIR: dataDir },
    });
    try {
      user = await registerUser(seeder.app.getHttpServer(), {
        profile: PROFILE,
      });
      const session = await login(seeder.app.getHttpServer(), user);
      const document = await request(seeder.app.getHttpServer())
        .post('/v1/documents')
        .set(...bearer(session.accessToken))
        .send({ kind: 'profile-summary' });
      expect(document.status).toBe(201);
      documentId = bodyOf<DocumentDto>(document).id;
      await seedContacts(seeder, user.userId, user.password, CONTACTS);
    } finally {
      await seeder.close();
    }
    db = new Client({ connectionString: database.url });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    for (const app of processes)
      if (app.child.exitCode === null && app.child.signalCode === null)
        app.child.kill('SIGKILL');
    await Promise.all(processes.map((app) => app.exited));
    await db?.end();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('SIGKILL at a random point, restart, log in: the job completes and nothing is lost', async () => {
    const first = await start();
    const session = await login(first.base, user);
    const rotated = await request(first.base)
      .post('/v1/me/keys/rotate')
      .set(...bearer(session.accessToken))
      .send({ password: user.password });
    expect(rotated.status).toBe(200);
    const { keyVersion, recoveryCode: rotatedCode } =
      bodyOf<RotatedKeysDto>(rotated);
    expect(keyVersion).toBe(2);

    // Kill once a random share (10–90 %) of the rows has been re-encrypted and committed.
    const target = Math.floor(CONTACTS * (0.1 + Math.random() * 0.8));
    for (;;) {
      const { rows } = await db.query<{ rows_reencrypted: string }>(
        'SELECT rows_reencrypted FROM key_rotations WHERE user_id = $1',
        [user.userId],
      );
      if (rows.length === 0)
        throw new Error(
          'the rotation finished before the kill: raise KEY_ROTATION_KILL_CONTACTS',
        );
      if (Number(rows[0].rows_reencrypted) >= target) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    first.app.child.kill('SIGKILL');
    expect(await first.app.exited).toBe('SIGKILL');

    // Interrupted: both wrapped keys still there, ciphertexts under both versions.
    const pending = await db.query<{
      from_version: number;
      to_version: number;
      rows_reencrypted: string;
    }>(
      'SELECT from_version, to_version, rows_reencrypted FROM key_rotations WHERE user_id = $1',
      [user.userId],
    );
    expect(pending.rows).toHaveLength(1);
    const keysBefore = await db.query(
      'SELECT key_version FROM user_data_keys WHERE user_id = $1 ORDER BY key_version',
      [user.userId],
    );
    expect(keysBefore.rows).toEqual([{ key_version: 1 }, { key_version: 2 }]);
    const leftUnderOld = await staleCount(2);
    expect(leftUnderOld).toBeGreaterThan(0);
    process.stdout.write(
      `killed after ${pending.rows[0].rows_reencrypted} rows (target ${target}); ${leftUnderOld} rows still under v1\n`,
    );

    // Restart (the in-memory vault lost every session): log in, read at once, wait for the job.
    const second = await start();
    const again = await login(second.base, user);
    const early = await request(second.base)
      .get('/v1/contacts')
      .query({ email: seededContact(CONTACTS - 1).email })
      .set(...bearer(again.accessToken));
    expect(early.status).toBe(200);
    expect(bodyOf<ContactPageDto>(early).items).toEqual([
      expect.objectContaining(seededContact(CONTACTS - 1)),
    ]);
    await waitUntil(
      'the rotation resumed and finished',
      async () =>
        (
          await db.query('SELECT 1 FROM key_rotations WHERE user_id = $1', [
            user.userId,
          ])
        ).rows.length === 0,
      {
        timeoutMs: 60_000,
        intervalMs: 50,
        detail: () => `output:\n${second.app.output().slice(-3000)}`,
      },
    );

    // Finished: everything under v2, only v2's wrapped key left, the file re-encrypted.
    expect(await staleCount(2)).toBe(0);
    const keysAfter = await db.query(
      'SELECT key_version FROM user_data_keys WHERE user_id = $1',
      [user.userId],
    );
    expect(keysAfter.rows).toEqual([{ key_version: 2 }]);
    expect(
      readFileSync(
        join(dataDir, 'documents', `${documentId}.vpd`),
      ).readUInt32BE(6),
    ).toBe(2);
    const completed = second.app
      .output()
      .split('\n')
      .filter((line) => line.includes('key rotation completed'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(completed).toEqual([
      expect.objectContaining({ outcome: 'completed', userId: user.userId }),
    ]);
    process.stdout.write(`resumed: ${JSON.stringify(completed[0])}\n`);

    // Data intact: the count, a sample of contacts by blind index, the profile, the document.
    const [{ count }] = (
      await db.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM contacts WHERE owner_id = $1',
        [user.userId],
      )
    ).rows;
    expect(count).toBe(CONTACTS);
    for (const n of [
      0,
      Math.floor(CONTACTS / 3),
      Math.floor(CONTACTS / 2),
      CONTACTS - 1,
    ]) {
      const found = await request(second.base)
        .get('/v1/contacts')
        .query({ phone: seededContact(n).phone })
        .set(...bearer(again.accessToken));
      expect(bodyOf<ContactPageDto>(found).items).toEqual([
        expect.objectContaining(seededContact(n)),
      ]);
    }
    const profile = await request(second.base)
      .get('/v1/me/profile')
      .set(...bearer(again.accessToken));
    expect(profile.body).toMatchObject(PROFILE);
    const me = await request(second.base)
      .get('/v1/me')
      .set(...bearer(again.accessToken));
    expect(me.body).toMatchObject({ email: user.email, keyVersion: 2 });
    const pdf = await fetch(
      `${second.base}/v1/documents/${documentId}/content`,
      { headers: { Authorization: `Bearer ${again.accessToken}` } },
    );
    expect(pdf.status).toBe(200);
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString('latin1'),
    ).toBe('%PDF-');

    // The recovery code handed out before the crash is the one that works.
    const oldCode = await request(second.base).post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: user.recoveryCode,
      newPassword: 'Post crash passphrase 5521',
    });
    expect(oldCode.status).toBe(401);
    const newCode = await request(second.base).post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: rotatedCode,
      newPassword: 'Post crash passphrase 5521',
    });
    expect(newCode.status).toBe(200);
  }, 120_000);
});

function versionBytes(version: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(version, 0);
  return bytes;
}
