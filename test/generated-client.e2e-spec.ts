import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './client/api-schema';
import { createTestApp, TestApp } from './support/test-app';

/**
 * README "Generate a client": the whole flow of an integrator, driven only through a client
 * generated from the OpenAPI document (openapi-typescript types in test/client/api-schema.d.ts,
 * openapi-fetch at run time) over real HTTP. A change of the document that breaks one of these
 * calls fails `npm run typecheck` once the types are regenerated (`npm run openapi:client`);
 * src/generated-client-types.spec.ts fails while they are stale.
 */

type Problem = components['schemas']['ProblemDetails'];

/**
 * The JSON body of an operation. Each body below `satisfies` it: openapi-fetch does not flag an
 * unknown field in a body whose required fields are all there (openapi-typescript issue 1769), so
 * a field the document renamed or dropped would otherwise still compile.
 */
type JsonBody<
  Path extends keyof paths,
  Method extends 'post' | 'put' | 'patch',
> = paths[Path][Method] extends {
  requestBody?: { content: { 'application/json': infer Body } };
}
  ? Body
  : never;

/** What an integrator writes once: every request carries the current access token, if any. */
function bearerAuth(currentToken: () => string | undefined): Middleware {
  return {
    onRequest({ request }) {
      const token = currentToken();
      if (token) request.headers.set('Authorization', `Bearer ${token}`);
      return request;
    },
  };
}

/**
 * The problem an error answer carries. Its type is the document's `ProblemDetails`: assigning
 * openapi-fetch's `error` here fails to compile if an operation's errors stop being typed so.
 */
function problemOf(error: Problem | undefined): Problem {
  if (error === undefined) throw new Error('expected an error answer');
  return error;
}

const PASSWORD = 'Generated-client passphrase 5120';
const NEW_PASSWORD = 'Recovered client passphrase 5120';

describe('a client generated from the OpenAPI document drives the API (README "Generate a client")', () => {
  let t: TestApp;
  let baseUrl: string;
  let client: Client<paths>;
  let accessToken: string | undefined;
  const email = `client.${randomUUID()}@example.org`;
  let userId: string;
  let recoveryCode: string;
  let refreshToken: string;
  let graceId: string;

  beforeAll(async () => {
    t = await createTestApp();
    // A real port: openapi-fetch sends its requests with fetch, over HTTP.
    await t.app.listen(0, '127.0.0.1');
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    baseUrl = `http://127.0.0.1:${port}`;
    client = createClient<paths>({ baseUrl });
    client.use(bearerAuth(() => accessToken));
  });
  afterAll(() => t?.close());

  const logIn = (password: string) =>
    client.POST('/v1/auth/login', {
      body: { email, password } satisfies JsonBody<'/v1/auth/login', 'post'>,
    });

  it('registers (keeping the recovery code) and logs in', async () => {
    const registered = await client.POST('/v1/auth/register', {
      body: {
        email,
        password: PASSWORD,
        profile: { fullName: 'Ada Lovelace', dateOfBirth: '1815-12-10' },
      } satisfies JsonBody<'/v1/auth/register', 'post'>,
    });
    expect(registered.response.status).toBe(201);
    if (!registered.data) throw new Error('register failed');
    expect(registered.data.email).toBe(email);
    expect(registered.data.recoveryCode).toMatch(
      /^[0-9A-Z]{4}(-[0-9A-Z]{4}){6}$/,
    );
    ({ userId, recoveryCode } = registered.data);

    const taken = await client.POST('/v1/auth/register', {
      body: { email, password: PASSWORD } satisfies JsonBody<
        '/v1/auth/register',
        'post'
      >,
    });
    expect(taken.response.status).toBe(409);
    expect(problemOf(taken.error).code).toBe('email_taken');

    const { data, error } = await logIn(PASSWORD);
    expect(error).toBeUndefined();
    if (!data) throw new Error('login failed');
    expect(data.tokenType).toBe('Bearer');
    expect(data.expiresIn).toBeGreaterThan(0);
    accessToken = data.accessToken;
    refreshToken = data.refreshToken;
  });

  it('reads the account with the token the middleware sets (and 401 without one)', async () => {
    const { data } = await client.GET('/v1/me');
    expect(data).toMatchObject({ userId, email, keyRotation: null });

    const anonymous = createClient<paths>({ baseUrl });
    const refused = await anonymous.GET('/v1/me');
    expect(refused.response.status).toBe(401);
    expect(refused.data).toBeUndefined();
    expect(problemOf(refused.error)).toMatchObject({
      status: 401,
      code: 'invalid_token',
      instance: '/v1/me',
    });
  });

  it('replaces, reads and patches the profile', async () => {
    const profile = {
      fullName: 'Ada King',
      dateOfBirth: '1815-12-10',
      phone: '+44 20 7946 0958',
      address: '12 St James’s Square, London',
      nationalId: 'AL-1815',
    } satisfies JsonBody<'/v1/me/profile', 'put'>;
    const replaced = await client.PUT('/v1/me/profile', { body: profile });
    expect(replaced.data).toEqual(profile);
    expect((await client.GET('/v1/me/profile')).data).toEqual(profile);
    const patched = await client.PATCH('/v1/me/profile', {
      body: { phone: null, fullName: 'Ada Lovelace' } satisfies JsonBody<
        '/v1/me/profile',
        'patch'
      >,
    });
    expect(patched.data).toEqual({
      ...profile,
      phone: null,
      fullName: 'Ada Lovelace',
    });

    const invalid = await client.PATCH('/v1/me/profile', {
      body: { dateOfBirth: '10/12/1815' } satisfies JsonBody<
        '/v1/me/profile',
        'patch'
      >,
    });
    expect(invalid.response.status).toBe(400);
    expect(problemOf(invalid.error).errors?.map((e) => e.field)).toEqual([
      'dateOfBirth',
    ]);
  });

  it('creates, lists, searches and reads contacts', async () => {
    const grace = await client.POST('/v1/contacts', {
      body: {
        fullName: 'Grace Hopper',
        email: 'Grace@Navy.example',
        phone: '+1 (555) 010-9999',
      } satisfies JsonBody<'/v1/contacts', 'post'>,
    });
    expect(grace.response.status).toBe(201);
    if (!grace.data) throw new Error('create failed');
    expect(grace.data.email).toBe('grace@navy.example');
    graceId = grace.data.id;
    for (const fullName of ['Alan Turing', 'Katherine Johnson'])
      expect(
        (await client.POST('/v1/contacts', { body: { fullName } })).response
          .status,
      ).toBe(201);

    const firstPage = await client.GET('/v1/contacts', {
      params: { query: { limit: 2 } },
    });
    expect(firstPage.data?.items.map((c) => c.fullName)).toEqual([
      'Katherine Johnson',
      'Alan Turing',
    ]);
    const cursor = firstPage.data?.nextCursor;
    if (!cursor) throw new Error('expected a second page');
    const secondPage = await client.GET('/v1/contacts', {
      params: { query: { limit: 2, cursor } },
    });
    expect(secondPage.data).toEqual({ items: [grace.data], nextCursor: null });

    const found = await client.POST('/v1/contacts/search', {
      body: { email: '  GRACE@navy.example ' } satisfies JsonBody<
        '/v1/contacts/search',
        'post'
      >,
    });
    expect(found.response.status).toBe(200);
    expect(found.data).toEqual({ items: [grace.data], nextCursor: null });
    const byPhone = await client.POST('/v1/contacts/search', {
      body: { phone: '+15550109999', limit: 1 } satisfies JsonBody<
        '/v1/contacts/search',
        'post'
      >,
    });
    expect(byPhone.data?.items.map((c) => c.id)).toEqual([graceId]);
    const badSearch = await client.POST('/v1/contacts/search', {
      body: { email: 'not-an-email' } satisfies JsonBody<
        '/v1/contacts/search',
        'post'
      >,
    });
    expect(problemOf(badSearch.error)).toMatchObject({
      status: 400,
      code: 'validation_failed',
    });

    const read = await client.GET('/v1/contacts/{id}', {
      params: { path: { id: graceId } },
    });
    expect(read.data).toEqual(grace.data);
    const missing = await client.GET('/v1/contacts/{id}', {
      params: { path: { id: randomUUID() } },
    });
    expect(problemOf(missing.error).code).toBe('not_found');
  });

  it('creates a profile-summary document and downloads the PDF', async () => {
    const created = await client.POST('/v1/documents', {
      body: { kind: 'profile-summary' } satisfies JsonBody<
        '/v1/documents',
        'post'
      >,
    });
    expect(created.response.status).toBe(201);
    if (!created.data) throw new Error('document creation failed');
    const { id, sizeBytes } = created.data;

    const download = await client.GET('/v1/documents/{id}/content', {
      params: { path: { id } },
      parseAs: 'arrayBuffer',
    });
    expect(download.response.headers.get('content-type')).toBe(
      'application/pdf',
    );
    if (!download.data) throw new Error('download failed');
    const pdf = Buffer.from(download.data);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.length).toBe(sizeBytes);
  });

  it('refreshes: the new access token works, the spent refresh token is refused (and revokes the session)', async () => {
    const spent = refreshToken;
    const refreshed = await client.POST('/v1/auth/refresh', {
      body: { refreshToken: spent } satisfies JsonBody<
        '/v1/auth/refresh',
        'post'
      >,
    });
    if (!refreshed.data) throw new Error('refresh failed');
    expect(refreshed.data.refreshToken).not.toBe(spent);
    // The access token is not compared with the previous one: within the same second it carries
    // the same claims (same session, same `iat`), so the two JWTs can be byte-identical.
    accessToken = refreshed.data.accessToken;
    expect((await client.GET('/v1/me')).data?.userId).toBe(userId);

    const replayed = await client.POST('/v1/auth/refresh', {
      body: { refreshToken: spent } satisfies JsonBody<
        '/v1/auth/refresh',
        'post'
      >,
    });
    expect(replayed.data).toBeUndefined();
    expect(replayed.response.status).toBe(401);
    expect(problemOf(replayed.error).code).toBe('invalid_token');
    // docs/http-api.md#post-v1authrefresh: a reused refresh token revokes the whole session.
    expect(problemOf((await client.GET('/v1/me')).error).code).toBe(
      'session_locked',
    );
  });

  it('logs out: the token answers 401 afterwards', async () => {
    const { data } = await logIn(PASSWORD);
    if (!data) throw new Error('login failed');
    accessToken = data.accessToken;
    expect((await client.GET('/v1/me')).response.status).toBe(200);

    const loggedOut = await client.POST('/v1/auth/logout');
    expect(loggedOut.response.status).toBe(204);
    expect(loggedOut.data).toBeUndefined();

    const after = await client.GET('/v1/me');
    expect(after.response.status).toBe(401);
    expect(problemOf(after.error).code).toBe('session_locked');
    const refresh = await client.POST('/v1/auth/refresh', {
      body: { refreshToken: data.refreshToken } satisfies JsonBody<
        '/v1/auth/refresh',
        'post'
      >,
    });
    expect(problemOf(refresh.error).code).toBe('invalid_token');
    accessToken = undefined;
  });

  it('recovers the account with the recovery code kept from registration', async () => {
    const recovered = await client.POST('/v1/auth/recover', {
      body: {
        email,
        recoveryCode,
        newPassword: NEW_PASSWORD,
      } satisfies JsonBody<'/v1/auth/recover', 'post'>,
    });
    if (!recovered.data) throw new Error('recovery failed');
    expect(recovered.data.recoveryCode).not.toBe(recoveryCode);
    const oldPassword = await logIn(PASSWORD);
    expect(problemOf(oldPassword.error).code).toBe('invalid_credentials');
    const { data } = await logIn(NEW_PASSWORD);
    if (!data) throw new Error('login with the new password failed');
    accessToken = data.accessToken;
    // The data survived: the keys were unwrapped by the recovery code, not replaced.
    const contact = await client.GET('/v1/contacts/{id}', {
      params: { path: { id: graceId } },
    });
    expect(contact.data?.fullName).toBe('Grace Hopper');
  });
});
