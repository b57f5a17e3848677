import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import request, { Response } from 'supertest';
import { ContactsService } from '../src/contacts/contacts.service';
import { PdfRenderPool } from '../src/documents/pdf-render-pool';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import { redisSkipReason } from '@vault-pii/nest-encryption/testing';
import {
  bearer,
  login,
  LoggedInUser,
  registerAndLogin,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/wait-until';

interface DocumentPage {
  items: DocumentDto[];
  nextCursor: string | null;
}

/**
 * Holds every render's contacts until `open()`: the worker has started and asked for its first
 * page, so the render is in progress for as long as the test needs, whatever the machine's speed.
 */
function holdRenders(...apps: TestApp[]) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let held = 0;
  const spies = apps.map((t) => {
    const contacts = t.app.get(ContactsService);
    const pagesOf = contacts.pagesOf.bind(contacts);
    return jest.spyOn(contacts, 'pagesOf').mockImplementation(async function* (
      ownerId: string,
    ) {
      held++;
      await opened;
      yield* pagesOf(ownerId);
    });
  });
  return {
    held: () => held,
    open,
    restore: () => spies.forEach((spy) => spy.mockRestore()),
  };
}

/** A problem answer carrying `extensions` besides the standard members (limits name themselves). */
function expectLimitProblem(
  response: Response,
  status: number,
  code: string,
  extensions: Record<string, unknown>,
): void {
  expect({ status: response.status, body: response.body as unknown }).toEqual({
    status,
    body: {
      type: `/problems/${code.replace(/_/g, '-')}`,
      title: expect.any(String) as unknown,
      status,
      detail: expect.any(String) as unknown,
      code,
      instance: '/v1/documents',
      requestId: response.headers['x-request-id'],
      ...extensions,
    },
  });
  expect(response.headers['content-type']).toBe(
    'application/problem+json; charset=utf-8',
  );
}

describe('document limits (docs/limits.md#documents, issue 15)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const documentFiles = () =>
    readdirSync(join(t.config.dataDir, 'documents')).sort();
  const documentRows = async (ownerId: string) =>
    (
      await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM documents WHERE owner_id = $1',
        [ownerId],
      )
    )[0].n;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        LOGIN_FAILURE_LIMIT: '100000',
        DOCUMENTS_PER_USER_LIMIT: '3',
        DOCUMENT_CREATION_LIMIT: '5',
        DOCUMENT_CREATION_WINDOW: '1h',
        // One worker and no queue: a second user's render while one runs is refused.
        PDF_WORKERS: '1',
        PDF_QUEUE_LIMIT: '0',
      },
    });
  });
  afterAll(() => t?.close());

  const create = (user: LoggedInUser) =>
    http()
      .post('/v1/documents')
      .set(...bearer(user.accessToken))
      .send({ kind: 'profile-summary' });
  const remove = (user: LoggedInUser, id: string) =>
    http()
      .delete(`/v1/documents/${id}`)
      .set(...bearer(user.accessToken))
      .expect(204);
  const createOk = async (user: LoggedInUser) => {
    const response = await create(user);
    expect(response.status).toBe(201);
    return bodyOf<DocumentDto>(response);
  };

  it('DOCUMENTS_PER_USER_LIMIT: the next create is 409 limit_reached naming it; deleting one makes room', async () => {
    const user = await registerAndLogin(t.app.getHttpServer());
    const first = await createOk(user);
    await createOk(user);
    await createOk(user);
    const files = documentFiles();
    const refused = await create(user);
    expectLimitProblem(refused, 409, 'limit_reached', {
      limit: 'DOCUMENTS_PER_USER_LIMIT',
      max: 3,
    });
    expect(documentFiles()).toEqual(files);
    expect(await documentRows(user.userId)).toBe(3);

    await remove(user, first.id);
    await createOk(user);
    expect(await documentRows(user.userId)).toBe(3);
  });

  it('DOCUMENT_CREATION_LIMIT: the next creation in the window is 429 with Retry-After, and deleting documents gives nothing back', async () => {
    const user = await registerAndLogin(t.app.getHttpServer());
    for (let i = 0; i < 5; i++) await remove(user, (await createOk(user)).id);
    const refused = await create(user);
    expectLimitProblem(refused, 429, 'too_many_requests', {
      limit: 'DOCUMENT_CREATION_LIMIT',
      max: 5,
    });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(await documentRows(user.userId)).toBe(0);
    // Another user has a budget of their own.
    await createOk(await registerAndLogin(t.app.getHttpServer()));
  });

  it('refused creations (409 at the cap) do not spend the creation budget', async () => {
    const user = await registerAndLogin(t.app.getHttpServer());
    for (let i = 0; i < 3; i++) await createOk(user);
    for (let i = 0; i < 4; i++) expect((await create(user)).status).toBe(409);
    const [one, two] = bodyOf<DocumentPage>(
      await http()
        .get('/v1/documents')
        .set(...bearer(user.accessToken)),
    ).items;
    await remove(user, one.id);
    await remove(user, two.id);
    await createOk(user); // the 4th and 5th creations: still within 5
    await createOk(user);
    expect((await create(user)).status).toBe(409);
  });

  it('one render per user at a time: a second creation while the first renders is 429 with Retry-After', async () => {
    const user = await registerAndLogin(t.app.getHttpServer());
    const hold = holdRenders(t);
    try {
      const first = create(user).then((response) => response);
      await waitUntil(
        'the first render is in progress',
        () => hold.held() === 1,
      );
      const second = await create(user);
      expectLimitProblem(second, 429, 'too_many_requests', {
        limit: 'PDF_RENDERS_PER_USER',
        max: 1,
      });
      expect(second.headers['retry-after']).toBe('2');
      hold.open();
      expect((await first).status).toBe(201);
    } finally {
      hold.open();
      hold.restore();
    }
    expect(await documentRows(user.userId)).toBe(1);
    await createOk(user); // the slot was given back
  });

  it('PDF_QUEUE_LIMIT: with every worker busy and no queue place, another user gets 503 service_unavailable with Retry-After', async () => {
    const [busy, other] = [
      await registerAndLogin(t.app.getHttpServer()),
      await registerAndLogin(t.app.getHttpServer()),
    ];
    const hold = holdRenders(t);
    try {
      const first = create(busy).then((response) => response);
      await waitUntil('the only worker is busy', () => hold.held() === 1);
      const refused = await create(other);
      expectLimitProblem(refused, 503, 'service_unavailable', {
        limit: 'PDF_QUEUE_LIMIT',
        max: 0,
      });
      expect(refused.headers['retry-after']).toBe('5');
      hold.open();
      expect((await first).status).toBe(201);
    } finally {
      hold.open();
      hold.restore();
    }
    await createOk(other);
  });

  it('a worker that dies mid-render: one clean 500, logged once without PII, no file, no row, and the pool keeps serving', async () => {
    const secret = `Crash Canary ${randomUUID()}`;
    const user = await registerAndLogin(t.app.getHttpServer(), {
      profile: { fullName: secret },
    });
    await http()
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName: `${secret} contact`, notes: secret })
      .expect(201);
    const files = documentFiles();
    const logsBefore = t.logs.length;
    const hold = holdRenders(t);
    let response: Response;
    try {
      const pending = create(user).then((r) => r);
      await waitUntil('the render is in progress', () => hold.held() === 1);
      const pool = t.app.get(PdfRenderPool);
      await Promise.all(pool.threads.map((thread) => thread.terminate()));
      response = await pending;
    } finally {
      hold.open();
      hold.restore();
    }
    expectProblem(response, 500, 'internal_error', [secret, user.email]);
    expect(documentFiles()).toEqual(files);
    expect(await documentRows(user.userId)).toBe(0);
    const logs = t.logs.slice(logsBefore);
    // pino-http's own line for every 5xx ('request errored') aside, the error is logged once.
    const errors = logs.filter(
      (line) => Number(line.level) >= 50 && line.msg !== 'request errored',
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      msg: 'unhandled error',
      err: { type: 'PdfRenderError', code: 'ERR_PDF_RENDER' },
    });
    expect(JSON.stringify(logs)).not.toContain(secret);
    expect(JSON.stringify(logs)).not.toContain(user.email);

    const created = await createOk(user);
    const content = await http()
      .get(`/v1/documents/${created.id}/content`)
      .set(...bearer(user.accessToken))
      .responseType('blob');
    expect((content.body as Buffer).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('a failure reading contacts mid-render: 500, no file, no row, the creation not counted', async () => {
    const user = await registerAndLogin(t.app.getHttpServer());
    const files = documentFiles();
    const contacts = t.app.get(ContactsService);
    const spy = jest
      .spyOn(contacts, 'pagesOf')
      .mockImplementation(async function* () {
        yield await Promise.resolve([]);
        throw new Error('connection terminated');
      });
    try {
      expectProblem(await create(user), 500, 'internal_error');
    } finally {
      spy.mockRestore();
    }
    expect(documentFiles()).toEqual(files);
    expect(await documentRows(user.userId)).toBe(0);
    // Five creations are still left: the failed one was taken back.
    for (let i = 0; i < 5; i++) await remove(user, (await createOk(user)).id);
    expect((await create(user)).status).toBe(429);
  });

  describe('GET /v1/documents pages', () => {
    let user: LoggedInUser;
    let ids: string[];

    beforeAll(async () => {
      user = await registerAndLogin(t.app.getHttpServer());
      ids = [];
      for (let i = 0; i < 3; i++) ids.unshift((await createOk(user)).id);
    });

    const page = (query: Record<string, string>) =>
      http()
        .get('/v1/documents')
        .query(query)
        .set(...bearer(user.accessToken));

    it.each([1, 2, 3, 20])(
      'walks every document once, newest first, %i a page',
      async (limit) => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const response = await page({
            limit: String(limit),
            ...(cursor ? { cursor } : {}),
          });
          expect(response.status).toBe(200);
          const body = bodyOf<DocumentPage>(response);
          expect(body.items.length).toBeLessThanOrEqual(limit);
          seen.push(...body.items.map((item) => item.id));
          cursor = body.nextCursor;
          pages++;
        } while (cursor);
        expect(seen).toEqual(ids);
        expect(pages).toBe(Math.ceil(ids.length / limit));
      },
    );

    it('defaults to 20 a page and answers { items, nextCursor: null } on the last', async () => {
      const body = bodyOf<DocumentPage>(await page({}));
      expect(body).toEqual({
        items: expect.any(Array) as unknown,
        nextCursor: null,
      });
      expect(body.items.map((item) => item.id)).toEqual(ids);
    });

    it.each([
      ['limit=0', { limit: '0' }],
      ['limit=101', { limit: '101' }],
      ['limit=abc', { limit: 'abc' }],
      ['limit=1.5', { limit: '1.5' }],
      [
        'a forged cursor',
        {
          cursor: Buffer.from(
            "2026-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000'--",
          ).toString('base64url'),
        },
      ],
      ['a cursor that is not base64', { cursor: '%%%' }],
      ['a cursor of 201 characters', { cursor: 'A'.repeat(201) }],
      ['an unknown parameter', { offset: '10' }],
    ])('answers %s with 400 validation_failed', async (_case, query) => {
      expectProblem(await page(query), 400, 'validation_failed');
    });
  });
});

const redisUrl = process.env.REDIS_URL;
const skipReason = redisSkipReason(redisUrl);
if (skipReason)
  console.warn(`Two-instance document limit tests skipped: ${skipReason}`);

(skipReason ? describe.skip : describe)(
  'two instances sharing the database and Redis',
  () => {
    const keyPrefix = `e2e-documents-${randomUUID()}:`;
    let first: TestApp;
    let second: TestApp;
    let admin: Redis;

    beforeAll(async () => {
      const env = {
        REDIS_URL: redisUrl as string,
        REDIS_KEY_PREFIX: keyPrefix,
        APP_MASTER_KEY: randomBytes(32).toString('base64'),
        DOCUMENTS_PER_USER_LIMIT: '1',
        DOCUMENT_CREATION_LIMIT: '2',
      };
      first = await createTestApp({ env });
      second = await createTestApp({ env, sharedDatabase: first.database });
      admin = new Redis(redisUrl as string);
    });
    afterAll(async () => {
      await second?.close();
      await first?.close();
      if (admin) {
        const keys = await admin.keys(`${keyPrefix}*`);
        if (keys.length) await admin.del(...keys);
        admin.disconnect();
      }
    });

    const create = (t: TestApp, user: LoggedInUser) =>
      request(t.app.getHttpServer())
        .post('/v1/documents')
        .set(...bearer(user.accessToken))
        .send({ kind: 'profile-summary' });

    it('DOCUMENTS_PER_USER_LIMIT holds when both create at once (both past the early check): one 201, one 409', async () => {
      const user = await registerAndLogin(first.app.getHttpServer());
      const hold = holdRenders(first, second);
      let answers: Response[];
      try {
        const pending = [create(first, user), create(second, user)].map((r) =>
          r.then((response) => response),
        );
        // Both renders have started, so both passed the early count with no document yet.
        await waitUntil(
          'both renders are in progress',
          () => hold.held() === 2,
        );
        hold.open();
        answers = await Promise.all(pending);
      } finally {
        hold.open();
        hold.restore();
      }
      expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
      const refused = answers.find((r) => r.status === 409) as Response;
      expectLimitProblem(refused, 409, 'limit_reached', {
        limit: 'DOCUMENTS_PER_USER_LIMIT',
        max: 1,
      });
      const rows = await first.dataSource.query<{ id: string }[]>(
        'SELECT id FROM documents WHERE owner_id = $1',
        [user.userId],
      );
      expect(rows).toHaveLength(1);
      const files = [first, second].flatMap((t) =>
        readdirSync(join(t.config.dataDir, 'documents')),
      );
      expect(files).toEqual([`${rows[0].id}.vpd`]);
    });

    it('DOCUMENT_CREATION_LIMIT is counted once for every instance, in Redis under an HMAC of the user id (never the id)', async () => {
      const user = await registerAndLogin(first.app.getHttpServer());
      const again = await login(second.app.getHttpServer(), user);
      const createThenDelete = async (t: TestApp, token: LoggedInUser) => {
        const created = await create(t, token).expect(201);
        await request(t.app.getHttpServer())
          .delete(`/v1/documents/${bodyOf<DocumentDto>(created).id}`)
          .set(...bearer(token.accessToken))
          .expect(204);
        return created;
      };
      // RateLimit reports the shared count (docs/http-api.md#rate-limit-headers).
      expect((await createThenDelete(first, user)).headers.ratelimit).toMatch(
        /^"DOCUMENT_CREATION_LIMIT";r=1;t=\d+$/,
      );
      expect((await createThenDelete(second, again)).headers.ratelimit).toMatch(
        /^"DOCUMENT_CREATION_LIMIT";r=0;t=\d+$/,
      );
      const refused = await create(first, user);
      expectLimitProblem(refused, 429, 'too_many_requests', {
        limit: 'DOCUMENT_CREATION_LIMIT',
        max: 2,
      });
      expect((await create(second, again)).status).toBe(429);

      const keys = await admin.keys(`${keyPrefix}rate-limit:documents:*`);
      expect(keys.length).toBeGreaterThan(0);
      const rateLimitKeys = (await admin.keys(`${keyPrefix}rate-limit:*`)).join(
        '\n',
      );
      expect(rateLimitKeys).not.toContain(user.userId);
    });
  },
);
