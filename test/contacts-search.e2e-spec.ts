import { randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import request from 'supertest';
import type {
  ContactDto,
  ContactPageDto,
} from '../src/contacts/dto/contact.dto';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf, Json } from './support/http-body';
import { errorFields, expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/http-api.md#contacts: POST /v1/contacts/search takes the search terms in the body (query
 * strings get logged) and answers exactly what the deprecated GET /v1/contacts?email=&phone=
 * answers: one matching, one validation, one pagination.
 */

// Distinctive search terms: none may come back in a problem or reach a log line.
const CANARY_EMAIL = 'search.canary.5521@example.org';
const CANARY_PHONE = '+44 20 7946 5521';
// Long enough not to turn up by chance in a request id, a JWT or a millisecond timestamp (a
// 4-digit canary did, in CI).
const CANARIES = [CANARY_EMAIL, 'search.canary', '79465521'];

type Page = Json<ContactPageDto>;

describe('POST /v1/contacts/search (docs/http-api.md#contacts, issue 18)', () => {
  let t: TestApp;
  let alice: LoggedInUser;
  let bob: LoggedInUser;
  const http = () => request(t.app.getHttpServer());
  const create = async (user: LoggedInUser, body: object): Promise<string> => {
    const response = await http()
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send(body);
    expect(response.status).toBe(201);
    return bodyOf<ContactDto>(response).id;
  };
  const search = (user: LoggedInUser, body: unknown) =>
    http()
      .post('/v1/contacts/search')
      .set(...bearer(user.accessToken))
      .send(body as object);
  /** Exact bytes with this Content-Type, as Alice. */
  const sendRaw = (contentType: string, raw: string) =>
    http()
      .post('/v1/contacts/search')
      .set(...bearer(alice.accessToken))
      .set('Content-Type', contentType)
      .send(raw);
  const listByQuery = (user: LoggedInUser, query: Record<string, string>) =>
    http()
      .get('/v1/contacts')
      .query(query)
      .set(...bearer(user.accessToken));
  const ids = (response: request.Response) =>
    bodyOf<ContactPageDto>(response).items.map((contact) => contact.id);

  let aliceCanary: string;
  let bobCanary: string;

  beforeAll(async () => {
    t = await createTestApp();
    alice = await registerAndLogin(t.app.getHttpServer());
    bob = await registerAndLogin(t.app.getHttpServer());
    aliceCanary = await create(alice, {
      fullName: 'Search Canary',
      email: CANARY_EMAIL,
      phone: CANARY_PHONE,
    });
    await create(alice, {
      fullName: 'Someone Else',
      email: 'someone.else@example.org',
      phone: '+44 20 7946 0001',
    });
    // Bob holds the very same email and phone: his contact must never answer Alice's search.
    bobCanary = await create(bob, {
      fullName: 'Bob’s Canary',
      email: CANARY_EMAIL,
      phone: CANARY_PHONE,
    });
  });
  afterAll(() => t?.close());

  it.each<[string, Record<string, string>, 'alice' | 'none']>([
    ['the email as stored', { email: CANARY_EMAIL }, 'alice'],
    ['the email in capitals', { email: CANARY_EMAIL.toUpperCase() }, 'alice'],
    ['the email with spaces around', { email: `  ${CANARY_EMAIL}\t` }, 'alice'],
    [
      'the email in full-width characters',
      {
        email: [...CANARY_EMAIL]
          .map((c) =>
            /[a-z0-9@.]/.test(c)
              ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0)
              : c,
          )
          .join(''),
      },
      'alice',
    ],
    ['the phone as stored', { phone: CANARY_PHONE }, 'alice'],
    ['the phone as digits', { phone: '+442079465521' }, 'alice'],
    [
      'the phone punctuated otherwise',
      { phone: '+44 (20) 7946-5521' },
      'alice',
    ],
    [
      'email and phone together',
      { email: CANARY_EMAIL, phone: CANARY_PHONE },
      'alice',
    ],
    ['an unknown email', { email: 'nobody@example.org' }, 'none'],
    ['an unknown phone', { phone: '+1 555 000 0000' }, 'none'],
    [
      'a matching email with another contact’s phone',
      { email: CANARY_EMAIL, phone: '+44 20 7946 0001' },
      'none',
    ],
    [
      'a prefix of the email',
      { email: 'search.canary.5521@example.or' },
      'none',
    ],
  ])(
    'matches %s exactly as the GET form does',
    async (_case, terms, expected) => {
      const byBody = await search(alice, terms);
      const byQuery = await listByQuery(alice, terms);
      expect(byBody.status).toBe(200);
      expect(byQuery.status).toBe(200);
      expect(byBody.headers['cache-control']).toBe('no-store');
      expect(byBody.headers['content-type']).toMatch(/^application\/json/);
      expect(byBody.body).toEqual(byQuery.body);
      expect(ids(byBody)).toEqual(expected === 'alice' ? [aliceCanary] : []);
      expect(bodyOf<ContactPageDto>(byBody).nextCursor).toBeNull();
    },
  );

  it('without search terms lists every contact, as GET /v1/contacts does (an empty body too)', async () => {
    const all = await listByQuery(alice, {});
    expect(ids(all)).toHaveLength(2);
    expect((await search(alice, {})).body).toEqual(all.body);
    const noBody = await http()
      .post('/v1/contacts/search')
      .set(...bearer(alice.accessToken));
    expect(noBody.status).toBe(200);
    expect(noBody.body).toEqual(all.body);
  });

  it('never matches another user’s contacts, even with that user’s cursor', async () => {
    expect(ids(await search(bob, { email: CANARY_EMAIL }))).toEqual([
      bobCanary,
    ]);
    expect(ids(await search(alice, { phone: CANARY_PHONE }))).toEqual([
      aliceCanary,
    ]);
    // A cursor is a position, not a capability: Bob replaying one of Alice's pages sees only his own.
    const carol = await registerAndLogin(t.app.getHttpServer());
    for (let i = 0; i < 3; i++)
      await create(carol, { fullName: `Carol ${i}`, email: CANARY_EMAIL });
    const carolPage = bodyOf<ContactPageDto>(
      await search(carol, { email: CANARY_EMAIL, limit: 1 }),
    );
    expect(carolPage.nextCursor).toEqual(expect.any(String));
    const replayed = await search(bob, {
      email: CANARY_EMAIL,
      cursor: carolPage.nextCursor,
    });
    expect(replayed.status).toBe(200);
    expect(ids(replayed)).toEqual([bobCanary]);
  });

  it('pages through a search with the cursor: the same pages as the GET form, no gaps, no repeats, no other match', async () => {
    const dave = await registerAndLogin(t.app.getHttpServer());
    const matching: string[] = [];
    for (let i = 0; i < 7; i++) {
      matching.push(
        await create(dave, {
          fullName: `Match ${i}`,
          email: 'Page.Me@Example.org',
        }),
      );
      await create(dave, {
        fullName: `Other ${i}`,
        email: `other.${i}@example.org`,
      });
    }
    await create(dave, { fullName: 'No email' });

    const bodyPages: Page[] = [];
    let cursor: string | null = null;
    do {
      const response = await search(dave, {
        email: 'page.me@example.org',
        limit: 3,
        ...(cursor === null ? {} : { cursor }),
      });
      expect(response.status).toBe(200);
      const page = bodyOf<ContactPageDto>(response);
      bodyPages.push(page);
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(bodyPages.map((page) => page.items.length)).toEqual([3, 3, 1]);
    expect(bodyPages.flatMap((page) => page.items.map((c) => c.id))).toEqual(
      [...matching].reverse(), // newest first
    );

    // The GET form, followed with its own cursors, gives the very same pages.
    const queryPages: Page[] = [];
    cursor = null;
    do {
      const response = await listByQuery(dave, {
        email: 'page.me@example.org',
        limit: '3',
        ...(cursor === null ? {} : { cursor }),
      });
      const page = bodyOf<ContactPageDto>(response);
      queryPages.push(page);
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(queryPages).toEqual(bodyPages);

    // A list page's cursor continues a search too: the cursor is only a position.
    const firstListPage = bodyOf<ContactPageDto>(
      await listByQuery(dave, { limit: '1' }),
    );
    const fromThere = await search(dave, {
      email: 'page.me@example.org',
      cursor: firstListPage.nextCursor,
    });
    expect(ids(fromThere)).toEqual(
      [...matching].reverse().filter((id) => id !== firstListPage.items[0].id),
    );
  });

  const WELL_FORMED_PRE_4714_BC = Buffer.from(
    '-005000-01-01T00:00:00.000Z|0b8e5c1e-3f2a-4e9c-9d52-1c7a6a8e4f10',
  ).toString('base64url');

  it.each<[string, unknown, string[]]>([
    ['a bad email', { email: 'search.canary.5521@' }, ['email']],
    [
      'an email with an invisible character',
      { email: `search.canary\u200b.5521@example.org` },
      ['email'],
    ],
    ['a bad phone', { phone: 'call search.canary 79465521' }, ['phone']],
    ['limit 0', { limit: 0 }, ['limit']],
    ['limit 101', { limit: 101 }, ['limit']],
    ['a fractional limit', { limit: 1.5 }, ['limit']],
    ['a limit as a string', { limit: '5' }, ['limit']],
    ['a limit as a boolean', { limit: true }, ['limit']],
    ['a limit as an array', { limit: [5] }, ['limit']],
    ['a null limit', { limit: null }, ['limit']],
    ['an email as a number', { email: 79465521 }, ['email']],
    ['an email as an array', { email: [CANARY_EMAIL] }, ['email']],
    ['an email as an object', { email: { value: CANARY_EMAIL } }, ['email']],
    ['a null email', { email: null }, ['email']],
    ['a phone as a number', { phone: 442079465521 }, ['phone']],
    ['a null phone', { phone: null }, ['phone']],
    ['a malformed cursor', { cursor: 'bm90LWEtY3Vyc29y' }, ['cursor']],
    [
      'a cursor PostgreSQL cannot hold',
      { cursor: WELL_FORMED_PRE_4714_BC },
      ['cursor'],
    ],
    ['a cursor as a number', { cursor: 42 }, ['cursor']],
    ['a null cursor', { cursor: null }, ['cursor']],
    ['a long cursor', { cursor: 'x'.repeat(201) }, ['cursor']],
    [
      'an unknown field',
      { email: CANARY_EMAIL, ownerId: randomUUID() },
      ['ownerId'],
    ],
    [
      'an unknown field beside the terms',
      { email: CANARY_EMAIL, fullName: 'x' },
      ['fullName'],
    ],
    [
      'a __proto__ key',
      JSON.parse(`{"email": "${CANARY_EMAIL}", "__proto__": {"limit": 1}}`),
      ['__proto__'],
    ],
  ])(
    'answers %s with 400 validation_failed naming the field, echoing no term',
    async (_case, body, fields) => {
      const response = await search(alice, body);
      expectProblem(response, 400, 'validation_failed', CANARIES);
      expect([...new Set(errorFields(response))]).toEqual(fields);
    },
  );

  it.each([
    ['truncated JSON', `{"email": "${CANARY_EMAIL}"`],
    ['single quotes', `{'email': '${CANARY_EMAIL}'}`],
    ['a bare string', `"${CANARY_EMAIL}"`],
    ['null', 'null'],
  ])('answers a body of %s with 400 malformed_json', async (_case, raw) => {
    const response = await sendRaw('application/json', raw);
    expectProblem(response, 400, 'malformed_json', CANARIES);
  });

  it.each([
    ['an array of valid bodies', JSON.stringify([{ email: CANARY_EMAIL }])],
    ['an empty array', '[]'],
  ])(
    'answers %s as the body with 400 validation_failed',
    async (_case, raw) => {
      const response = await sendRaw('application/json', raw);
      expectProblem(response, 400, 'validation_failed', CANARIES);
    },
  );

  it.each([
    [
      'application/x-www-form-urlencoded',
      `email=${encodeURIComponent(CANARY_EMAIL)}`,
    ],
    ['text/plain', `{"email": "${CANARY_EMAIL}"}`],
  ])('answers a %s body with 415 unsupported_media_type', async (type, raw) => {
    const response = await sendRaw(type, raw);
    expectProblem(response, 415, 'unsupported_media_type', CANARIES);
  });

  it('needs a session: 401 before the body is looked at', async () => {
    const response = await http()
      .post('/v1/contacts/search')
      .send({ email: CANARY_EMAIL, bogus: true });
    expectProblem(response, 401, 'invalid_token', CANARIES);
  });

  it('is in the OpenAPI document as searchContacts; the GET query search is deprecated, its paging is not', async () => {
    const document = (await http().get('/docs-json')).body as {
      paths: Record<
        string,
        Record<
          string,
          {
            operationId?: string;
            parameters?: {
              name: string;
              deprecated?: boolean;
              description?: string;
            }[];
          }
        >
      >;
    };
    expect(document.paths['/v1/contacts/search'].post.operationId).toBe(
      'searchContacts',
    );
    const parameters = document.paths['/v1/contacts'].get.parameters ?? [];
    expect(
      parameters.map(({ name, deprecated }) => [name, deprecated === true]),
    ).toEqual([
      ['limit', false],
      ['cursor', false],
      ['email', true],
      ['phone', true],
    ]);
    for (const { deprecated, description } of parameters)
      if (deprecated)
        expect(description).toMatch(
          /use POST \/v1\/contacts\/search.*query string.*log/s,
        );
  });

  it('writes no search term to any log line, for either form', () => {
    expect(
      t.logs.some((line) =>
        JSON.stringify(line).includes('/v1/contacts/search'),
      ),
    ).toBe(true);
    const logged = JSON.stringify(t.logs).toLowerCase();
    for (const canary of CANARIES)
      expect({ canary, logged: logged.includes(canary.toLowerCase()) }).toEqual(
        {
          canary,
          logged: false,
        },
      );
  });
});
