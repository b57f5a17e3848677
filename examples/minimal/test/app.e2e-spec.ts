import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { AppModule } from '../src/app.module';

/**
 * The whole example over HTTP, on a database of its own created on the server `DATABASE_URL`
 * names (dropped afterwards): register, log in, notes stored as ciphertext, and refusals.
 */
const serverUrl = process.env.DATABASE_URL;
if (!serverUrl)
  throw new Error('set DATABASE_URL to a PostgreSQL server (postgres://…)');

const PASSWORD = 'a long enough passphrase';

async function withServer<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('examples/minimal', () => {
  const database = `example_minimal_${randomBytes(6).toString('hex')}`;
  const databaseUrl = Object.assign(new URL(serverUrl as string), {
    pathname: `/${database}`,
  }).toString();
  let app: INestApplication;

  beforeAll(async () => {
    await withServer((client) => client.query(`CREATE DATABASE ${database}`));
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ databaseUrl, masterKey: randomBytes(32) })],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await withServer((client) =>
      client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
    );
  });

  const http = () => request(app.getHttpServer());

  async function registerAndLogin(username: string): Promise<string> {
    const registered = await http()
      .post('/register')
      .send({ username, password: PASSWORD })
      .expect(201);
    expect(registered.body.recoveryCode).toMatch(
      /^([0-9A-Z]{4}-){6}[0-9A-Z]{4}$/,
    );
    const loggedIn = await http()
      .post('/login')
      .send({ username, password: PASSWORD })
      .expect(200);
    return loggedIn.body.token as string;
  }

  /** The note's row as stored, read with plain SQL on the app's database. */
  async function storedNote(id: string) {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ title: Buffer; body: Buffer }>(
        'SELECT title, body FROM notes WHERE id = $1',
        [id],
      );
      return rows[0];
    } finally {
      await client.end();
    }
  }

  let alice: string;
  let noteId: string;
  const title = 'Dentist on Tuesday';
  const body = 'Bring the insurance card, number 4412-5590';

  it('registers, logs in, writes a note and reads it back', async () => {
    alice = await registerAndLogin('alice');
    const created = await http()
      .post('/notes')
      .set('Authorization', `Bearer ${alice}`)
      .send({ title, body })
      .expect(201);
    noteId = created.body.id;
    expect(created.body).toMatchObject({ title, body });

    const one = await http()
      .get(`/notes/${noteId}`)
      .set('Authorization', `Bearer ${alice}`)
      .expect(200);
    expect(one.body).toMatchObject({ id: noteId, title, body });
    const all = await http()
      .get('/notes')
      .set('Authorization', `Bearer ${alice}`)
      .expect(200);
    expect(all.body).toEqual([
      expect.objectContaining({ id: noteId, title, body }),
    ]);
  });

  it('stores the title and body as envelopes that hold no plaintext', async () => {
    const row = await storedNote(noteId);
    for (const [stored, plain] of [
      [row.title, title],
      [row.body, body],
    ] as const) {
      // Envelope: format 1, algorithm 1 (XChaCha20-Poly1305), key version 1, then nonce,
      // ciphertext and tag (packages/nest-encryption/docs/design.md#the-envelope).
      expect([...stored.subarray(0, 6)]).toEqual([1, 1, 0, 0, 0, 1]);
      expect(stored.length).toBeGreaterThan(30 + 16 + Buffer.byteLength(plain));
      expect(stored.includes(Buffer.from(plain))).toBe(false);
      expect(stored.includes(Buffer.from('4412'))).toBe(false);
    }
  });

  it('refuses a request with no token, or with a malformed one, with 401', async () => {
    await http().get('/notes').expect(401);
    await http().get(`/notes/${noteId}`).expect(401);
    await http().post('/notes').send({ title, body }).expect(401);
    await http()
      .get('/notes')
      .set('Authorization', 'Bearer nonsense')
      .expect(401);
    await http().get('/notes').set('Authorization', alice).expect(401);
  });

  it('refuses a token whose client share was changed: the vault entry does not open (session_locked)', async () => {
    const [userId, sessionId] = alice.split('.');
    const forged = `${userId}.${sessionId}.${randomBytes(32).toString('base64url')}`;
    const answer = await http()
      .get('/notes')
      .set('Authorization', `Bearer ${forged}`)
      .expect(401);
    expect(answer.body.code).toBe('session_locked');
  });

  it("does not let another user's token read the note, nor borrow the owner's session", async () => {
    const bob = await registerAndLogin('bob');
    await http()
      .get(`/notes/${noteId}`)
      .set('Authorization', `Bearer ${bob}`)
      .expect(404);
    const list = await http()
      .get('/notes')
      .set('Authorization', `Bearer ${bob}`)
      .expect(200);
    expect(list.body).toEqual([]);
    // Bob's session under Alice's user id: the entry is sealed for Bob, so it does not open.
    const [, bobSession, bobShare] = bob.split('.');
    const [aliceId] = alice.split('.');
    await http()
      .get(`/notes/${noteId}`)
      .set('Authorization', `Bearer ${aliceId}.${bobSession}.${bobShare}`)
      .expect(401);
  });

  it('refuses a wrong password and an unknown user with the same 401', async () => {
    const wrong = await http()
      .post('/login')
      .send({ username: 'alice', password: `${PASSWORD}!` })
      .expect(401);
    const unknown = await http()
      .post('/login')
      .send({ username: 'nobody', password: PASSWORD })
      .expect(401);
    expect(wrong.body.message).toBe(unknown.body.message);
  });

  it('refuses bad input with 400 and a taken username with 409', async () => {
    await http().post('/register').send({ username: 'carol' }).expect(400);
    await http()
      .post('/register')
      .send({ username: 'Carol!', password: PASSWORD })
      .expect(400);
    await http()
      .post('/register')
      .send({ username: 'carol', password: 'short' })
      .expect(400);
    await http().post('/login').send('not json').expect(400);
    await http()
      .post('/register')
      .send({ username: 'alice', password: PASSWORD })
      .expect(409);
    await http()
      .post('/notes')
      .set('Authorization', `Bearer ${alice}`)
      .send({ title: '', body })
      .expect(400);
    await http()
      .post('/notes')
      .set('Authorization', `Bearer ${alice}`)
      .send({ title, body: 42 })
      .expect(400);
    await http()
      .get('/notes/not-a-uuid')
      .set('Authorization', `Bearer ${alice}`)
      .expect(400);
  });
});
