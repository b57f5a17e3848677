import { expect } from '@jest/globals';
import request from 'supertest';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import type {
  ContactDto,
  ContactPageDto,
} from '../src/contacts/dto/contact.dto';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

describe('contacts (docs/http-api.md#contacts, issue 5)', () => {
  let t: TestApp;
  let alice: LoggedInUser;
  let bob: LoggedInUser;
  const http = () => request(t.app.getHttpServer());
  const as = (user: LoggedInUser) => ({
    get: (path: string) =>
      http()
        .get(path)
        .set(...bearer(user.accessToken)),
    post: (path: string, body: unknown) =>
      http()
        .post(path)
        .set(...bearer(user.accessToken))
        .send(body as object),
    patch: (path: string, body: unknown) =>
      http()
        .patch(path)
        .set(...bearer(user.accessToken))
        .send(body as object),
    delete: (path: string) =>
      http()
        .delete(path)
        .set(...bearer(user.accessToken)),
  });

  beforeAll(async () => {
    t = await createTestApp({
      env: { AUTH_RATE_LIMIT: '100000', LOGIN_FAILURE_LIMIT: '100000' },
    });
    alice = await registerAndLogin(t.app.getHttpServer());
    bob = await registerAndLogin(t.app.getHttpServer());
  });
  afterAll(() => t?.close());

  it('creates, reads, patches and deletes a contact; stores nothing in plaintext', async () => {
    const created = await as(alice).post('/v1/contacts', {
      fullName: 'Grace Hopper',
      email: 'Grace@Navy.example',
      phone: '+1 (555) 010-9999',
      address: '1 Navy Yard',
      notes: 'COBOL',
    });
    expect(created.status).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    expect(created.body).toMatchObject({
      id: expect.any(String),
      fullName: 'Grace Hopper',
      // Stored in canonical form (docs/http-api.md#emails).
      email: 'grace@navy.example',
      notes: 'COBOL',
    });

    const id = bodyOf<ContactDto>(created).id;
    expect(
      bodyOf<ContactDto>(await as(alice).get(`/v1/contacts/${id}`)).fullName,
    ).toBe('Grace Hopper');
    const patched = await as(alice).patch(`/v1/contacts/${id}`, {
      notes: null,
      address: 'Arlington',
    });
    expect(patched.body).toMatchObject({
      notes: null,
      address: 'Arlington',
      fullName: 'Grace Hopper',
    });

    const [row] = await t.dataSource.query<Record<string, unknown>[]>(
      'SELECT * FROM contacts WHERE id = $1',
      [id],
    );
    expect(JSON.stringify(row)).not.toMatch(
      /Grace|Hopper|Navy|Arlington|5550109999/i,
    );

    expect((await as(alice).delete(`/v1/contacts/${id}`)).status).toBe(204);
    expect((await as(alice).get(`/v1/contacts/${id}`)).status).toBe(404);
    expect((await as(alice).delete(`/v1/contacts/${id}`)).status).toBe(404);
  });

  it('answers 404 for another user’s contact, for reading, changing and deleting', async () => {
    const body = bodyOf<ContactDto>(
      await as(alice).post('/v1/contacts', { fullName: 'Private Person' }),
    );
    for (const response of [
      await as(bob).get(`/v1/contacts/${body.id}`),
      await as(bob).patch(`/v1/contacts/${body.id}`, { fullName: 'Hijacked' }),
      await as(bob).delete(`/v1/contacts/${body.id}`),
      await as(bob).get('/v1/contacts/not-a-uuid'),
    ]) {
      expect(response.status).toBe(404);
      expect(bodyOf<ProblemDetails>(response).code).toBe('not_found');
    }
    expect(
      bodyOf<ContactDto>(await as(alice).get(`/v1/contacts/${body.id}`))
        .fullName,
    ).toBe('Private Person');
  });

  it('searches by email and phone through blind indexes: normalised hits, misses, never another user’s', async () => {
    const mine = await as(alice).post('/v1/contacts', {
      fullName: 'Search Me',
      email: 'find.me@example.org',
      phone: '+44 20 7946 0000',
    });
    await as(bob).post('/v1/contacts', {
      fullName: 'Bob’s copy',
      email: 'find.me@example.org',
      phone: '+44 20 7946 0000',
    });

    const byEmail = await as(alice).get(
      '/v1/contacts?email=FIND.ME@example.org',
    );
    expect(bodyOf<ContactPageDto>(byEmail).items.map((c) => c.id)).toEqual([
      bodyOf<ContactDto>(mine).id,
    ]);
    const byPhone = await as(alice).get(
      `/v1/contacts?phone=${encodeURIComponent('+442079460000')}`,
    );
    expect(bodyOf<ContactPageDto>(byPhone).items.map((c) => c.id)).toEqual([
      bodyOf<ContactDto>(mine).id,
    ]);
    expect(
      (await as(alice).get('/v1/contacts?email=nobody@example.org')).body,
    ).toEqual({ items: [], nextCursor: null });
    expect(
      bodyOf<ContactPageDto>(
        await as(bob).get('/v1/contacts?email=find.me@example.org'),
      ).items,
    ).toHaveLength(1);
  });

  it('paginates with an opaque cursor: no duplicates, no gaps, limit boundaries', async () => {
    const carol = await registerAndLogin(t.app.getHttpServer());
    const created: string[] = [];
    for (let i = 0; i < 25; i++)
      created.push(
        bodyOf<ContactDto>(
          await as(carol).post('/v1/contacts', { fullName: `Contact ${i}` }),
        ).id,
      );

    const firstPage = await as(carol).get('/v1/contacts');
    expect(bodyOf<ContactPageDto>(firstPage).items).toHaveLength(20);
    expect(typeof bodyOf<ContactPageDto>(firstPage).nextCursor).toBe('string');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await as(carol).get(
        `/v1/contacts?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...bodyOf<ContactPageDto>(page).items.map((c) => c.id));
      cursor = bodyOf<ContactPageDto>(page).nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect([...seen].sort()).toEqual([...created].sort());
    expect(seen[0]).toBe(created[24]); // newest first

    expect(
      bodyOf<ContactPageDto>(await as(carol).get('/v1/contacts?limit=1')).items,
    ).toHaveLength(1);
    expect((await as(carol).get('/v1/contacts?limit=100')).body).toMatchObject({
      nextCursor: null,
    });
    expect(
      bodyOf<ContactPageDto>(await as(carol).get('/v1/contacts?limit=25'))
        .nextCursor,
    ).toBeNull();
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
    // A well-formed cursor dated before 4714 BC: PostgreSQL's timestamp cannot hold it (was 500).
    [
      `cursor=${Buffer.from('-005000-01-01T00:00:00.000Z|0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10').toString('base64url')}`,
      'cursor',
    ],
    ['email=not-an-email', 'email'],
    ['phone=call-me', 'phone'],
    ['unknown=1', 'unknown'],
  ])('rejects the query %s with 400 naming %s', async (query, field) => {
    const response = await as(alice).get(`/v1/contacts?${query}`);
    expect(response.status).toBe(400);
    expect(bodyOf<ProblemDetails>(response).code).toBe('validation_failed');
    expect(
      bodyOf<ProblemDetails>(response).errors?.map((e) => e.field),
    ).toContain(field);
  });

  it.each([
    ['no fullName', {}, 'fullName'],
    ['an empty fullName', { fullName: '' }, 'fullName'],
    ['a long fullName', { fullName: 'x'.repeat(201) }, 'fullName'],
    ['a bad email', { fullName: 'A', email: 'nope' }, 'email'],
    ['a bad phone', { fullName: 'A', phone: 'call me' }, 'phone'],
    ['long notes', { fullName: 'A', notes: 'x'.repeat(2001) }, 'notes'],
    ['a wrong type', { fullName: 42 }, 'fullName'],
    ['an unknown field', { fullName: 'A', ownerId: 'x' }, 'ownerId'],
  ])('rejects a contact with %s (400)', async (_name, body, field) => {
    const response = await as(alice).post('/v1/contacts', body);
    expect(response.status).toBe(400);
    expect(
      bodyOf<ProblemDetails>(response).errors?.map((e) => e.field),
    ).toContain(field);
  });

  it('needs a session', async () => {
    expect((await http().get('/v1/contacts')).status).toBe(401);
  });
});
