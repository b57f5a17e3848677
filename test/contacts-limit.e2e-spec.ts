import { expect } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import type { App } from 'supertest/types';
import type { ContactDto } from '../src/contacts/dto/contact.dto';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Issue 15: `CONTACTS_PER_USER_LIMIT` (docs/limits.md#configurable), here 3. The create past it
 * is 409 `limit_reached` naming the setting, and concurrent creates at the edge, on two instances
 * sharing one database, never store more than the limit.
 */
const LIMIT = 3;
/**
 * Two instances serve one session only through a shared key vault (Redis), as in production: an
 * app's memory vault holds its own logins only. Without REDIS_URL the race runs on one instance
 * (still on separate database connections).
 */
const redisUrl = process.env.REDIS_URL;
if (!redisUrl)
  console.warn('contacts limit: one instance only, REDIS_URL is not set');

describe('contacts per user (CONTACTS_PER_USER_LIMIT)', () => {
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    const env = {
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
      CONTACTS_PER_USER_LIMIT: String(LIMIT),
      ...(redisUrl
        ? {
            REDIS_URL: redisUrl,
            REDIS_KEY_PREFIX: `e2e-contacts-${randomUUID()}:`,
          }
        : {}),
    };
    first = await createTestApp({ env });
    second = redisUrl
      ? await createTestApp({ env, sharedDatabase: first.database })
      : first;
  });
  afterAll(async () => {
    if (second !== first) await second?.close();
    await first?.close();
  });

  const server = (t: TestApp = first): App => t.app.getHttpServer();
  const create = (user: LoggedInUser, fullName: string, t?: TestApp) =>
    request(server(t))
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName, email: `${fullName.replace(/\W/g, '.')}@example.org` });
  const storedCount = async (userId: string) =>
    (
      await first.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM contacts WHERE owner_id = $1',
        [userId],
      )
    )[0].n;

  function expectLimitReached(response: request.Response): void {
    expect(response.status).toBe(409);
    expect(response.headers['content-type']).toMatch(
      /^application\/problem\+json/,
    );
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toMatchObject({
      type: '/problems/limit-reached',
      code: 'limit_reached',
      status: 409,
      limit: 'CONTACTS_PER_USER_LIMIT',
      max: LIMIT,
      instance: '/v1/contacts',
    });
  }

  it('answers the create past the limit with 409 limit_reached, and stores nothing', async () => {
    const user = await registerAndLogin(server());
    for (let i = 0; i < LIMIT; i++)
      expect((await create(user, `Contact ${i}`)).status).toBe(201);
    const refused = await create(user, 'One Too Many');
    expectLimitReached(refused);
    expect(refused.text).not.toMatch(/One Too Many|one\.too\.many/i);
    expect(await storedCount(user.userId)).toBe(LIMIT);
    const list = await request(server())
      .get('/v1/contacts')
      .set(...bearer(user.accessToken));
    expect(bodyOf<{ items: ContactDto[] }>(list).items).toHaveLength(LIMIT);
  });

  it('counts per user: another user still has every slot', async () => {
    const full = await registerAndLogin(server());
    for (let i = 0; i < LIMIT; i++) await create(full, `Full ${i}`);
    expectLimitReached(await create(full, 'Full extra'));
    const other = await registerAndLogin(server());
    for (let i = 0; i < LIMIT; i++)
      expect((await create(other, `Other ${i}`)).status).toBe(201);
  });

  it('frees a slot when a contact is deleted; changing one needs no slot', async () => {
    const user = await registerAndLogin(server());
    const ids: string[] = [];
    for (let i = 0; i < LIMIT; i++)
      ids.push(bodyOf<ContactDto>(await create(user, `Keep ${i}`)).id);
    const patched = await request(server())
      .patch(`/v1/contacts/${ids[0]}`)
      .set(...bearer(user.accessToken))
      .send({ notes: 'still fits' });
    expect(patched.status).toBe(200);
    expectLimitReached(await create(user, 'Before delete'));
    const deleted = await request(server())
      .delete(`/v1/contacts/${ids[1]}`)
      .set(...bearer(user.accessToken));
    expect(deleted.status).toBe(204);
    expect((await create(user, 'After delete')).status).toBe(201);
    expectLimitReached(await create(user, 'After that'));
    expect(await storedCount(user.userId)).toBe(LIMIT);
  });

  it('never stores more than the limit under concurrent creates on two instances', async () => {
    for (let round = 0; round < 3; round++) {
      const user = await registerAndLogin(server());
      // Start one below the limit in later rounds, so the race is at the very edge.
      const seeded = round === 0 ? 0 : LIMIT - 1;
      for (let i = 0; i < seeded; i++) await create(user, `Seed ${i}`);
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          create(user, `Race ${round} ${i}`, i % 2 === 0 ? first : second),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([
        ...Array<number>(LIMIT - seeded).fill(201),
        ...Array<number>(8 - (LIMIT - seeded)).fill(409),
      ]);
      for (const response of responses)
        if (response.status === 409) expectLimitReached(response);
      expect(await storedCount(user.userId)).toBe(LIMIT);
    }
  });

  it('documents 409 limit_reached on POST /v1/contacts in the OpenAPI document', async () => {
    const document = await request(server()).get('/docs-json');
    const responses = (
      document.body as {
        paths: Record<
          string,
          Record<string, { responses: Record<string, { description: string }> }>
        >;
      }
    ).paths['/v1/contacts'].post.responses;
    expect(responses['409'].description).toContain('limit_reached');
  });
});
