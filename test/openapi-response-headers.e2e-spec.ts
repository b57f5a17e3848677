import request, { Response } from 'supertest';
import type { App } from 'supertest/types';
import { login, registerUser, STRONG_PASSWORD } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

/**
 * docs/http-api.md#api-documentation: the response headers the OpenAPI document promises are the
 * ones the app sends. Every operation is called for real; for each answer, the documented response
 * of its status must exist, every header it marks required must be there, and the caching and
 * retry headers the app sends must be documented (and `no-store` documented must be sent).
 */

interface Header {
  $ref?: string;
  required?: boolean;
}
interface Operation {
  operationId: string;
  responses: Record<string, { headers?: Record<string, Header> }>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { headers: Record<string, Header> };
}

describe('OpenAPI response headers match real responses', () => {
  let t: TestApp;
  let server: App;
  let document: OpenApiDocument;
  const operations = new Map<string, Operation>();
  const called = new Set<string>();
  const gaps: string[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    server = t.app.getHttpServer();
    document = bodyOf<OpenApiDocument>(await request(server).get('/docs-json'));
    for (const item of Object.values(document.paths))
      for (const operation of Object.values(item))
        operations.set(operation.operationId, operation);
  });
  afterAll(() => t?.close());

  /** Compares one real answer of `operationId` with its documented response. */
  function check(operationId: string, response: Response): Response {
    called.add(operationId);
    const where = `${operationId} ${response.status}`;
    const documented =
      operations.get(operationId)?.responses[String(response.status)];
    if (!documented) {
      gaps.push(`${where}: status not documented`);
      return response;
    }
    const headers = Object.fromEntries(
      Object.entries(documented.headers ?? {}).map(([name, header]) => [
        name.toLowerCase(),
        header.$ref
          ? document.components.headers[header.$ref.split('/').pop()!]
          : header,
      ]),
    );
    for (const [name, header] of Object.entries(headers))
      if (header.required && response.headers[name] === undefined)
        gaps.push(`${where}: documented ${name} not sent`);
    for (const name of [
      'cache-control',
      'retry-after',
      'content-disposition',
      'location',
    ])
      if (response.headers[name] !== undefined && !headers[name])
        gaps.push(`${where}: sends ${name} undocumented`);
    return response;
  }

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('documents the headers of every operation as the app sends them', async () => {
    const http = () => request(server);
    const register = check(
      'register',
      await http()
        .post('/v1/auth/register')
        .send({ email: 'headers@example.org', password: STRONG_PASSWORD }),
    );
    expect(register.status).toBe(201);
    const user = await login(server, {
      ...bodyOf<{ userId: string; recoveryCode: string }>(register),
      email: 'headers@example.org',
      password: STRONG_PASSWORD,
    });
    check(
      'login',
      await http()
        .post('/v1/auth/login')
        .send({ email: user.email, password: 'wrong password entirely' }),
    );
    const refreshed = check(
      'refreshTokens',
      await http()
        .post('/v1/auth/refresh')
        .send({ refreshToken: user.refreshToken }),
    );
    const token = bodyOf<{ accessToken: string }>(refreshed).accessToken;
    const auth = bearer(token);

    check('getMe', await http().get('/v1/me').set(auth));
    check('getMe', await http().get('/v1/me'));
    check('getProfile', await http().get('/v1/me/profile').set(auth));
    const profile = {
      fullName: 'Ada Lovelace',
      dateOfBirth: '1815-12-10',
      phone: null,
      address: null,
      nationalId: null,
    };
    check(
      'replaceProfile',
      await http().put('/v1/me/profile').set(auth).send(profile),
    );
    check(
      'updateProfile',
      await http().patch('/v1/me/profile').set(auth).send({ phone: 42 }),
    );
    check(
      'updateProfile',
      await http().patch('/v1/me/profile').set(auth).send({ phone: null }),
    );

    const contact = check(
      'createContact',
      await http()
        .post('/v1/contacts')
        .set(auth)
        .send({ fullName: 'Grace Hopper', email: 'grace@example.org' }),
    );
    const contactId = bodyOf<{ id: string }>(contact).id;
    check('listContacts', await http().get('/v1/contacts').set(auth));
    check('listContacts', await http().get('/v1/contacts?limit=0').set(auth));
    check(
      'searchContacts',
      await http()
        .post('/v1/contacts/search')
        .set(auth)
        .send({ email: 'grace@example.org' }),
    );
    check(
      'searchContacts',
      await http().post('/v1/contacts/search').set(auth).send({ limit: 0 }),
    );
    check(
      'getContact',
      await http().get(`/v1/contacts/${contactId}`).set(auth),
    );
    check(
      'updateContact',
      await http()
        .patch(`/v1/contacts/${contactId}`)
        .set(auth)
        .send({ notes: 'Met at the COBOL committee' }),
    );
    check(
      'deleteContact',
      await http().delete(`/v1/contacts/${contactId}`).set(auth),
    );
    check(
      'getContact',
      await http().get(`/v1/contacts/${contactId}`).set(auth),
    );

    const created = check(
      'createDocument',
      await http()
        .post('/v1/documents')
        .set(auth)
        .send({ kind: 'profile-summary' }),
    );
    expect(created.status).toBe(201);
    const documentId = bodyOf<{ id: string }>(created).id;
    check('listDocuments', await http().get('/v1/documents').set(auth));
    check(
      'getDocument',
      await http().get(`/v1/documents/${documentId}`).set(auth),
    );
    const pdf = check(
      'downloadDocument',
      await http()
        .get(`/v1/documents/${documentId}/content`)
        .set(auth)
        .buffer(true),
    );
    expect(pdf.status).toBe(200);
    expect(pdf.headers['content-disposition']).toMatch(
      /^attachment; filename=/,
    );
    check(
      'deleteDocument',
      await http().delete(`/v1/documents/${documentId}`).set(auth),
    );

    const keyCreated = check(
      'createAccessKey',
      await http()
        .post('/v1/me/access-keys')
        .set(auth)
        .send({
          name: 'headers check',
          scopes: ['contacts:read'],
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
          password: STRONG_PASSWORD,
        }),
    );
    expect(keyCreated.status).toBe(201);
    const accessKey = bodyOf<{ id: string; secret: string }>(keyCreated);
    // An access key's answers carry the per-key RateLimit headers on top.
    check(
      'listContacts',
      await http().get('/v1/contacts').set(bearer(accessKey.secret)),
    );
    check('listAccessKeys', await http().get('/v1/me/access-keys').set(auth));
    check(
      'getAccessKey',
      await http().get(`/v1/me/access-keys/${accessKey.id}`).set(auth),
    );
    check(
      'revokeAccessKey',
      await http().delete(`/v1/me/access-keys/${accessKey.id}`).set(auth),
    );

    const other = await login(server, user);
    const sessions = check(
      'listSessions',
      await http().get('/v1/auth/sessions').set(auth),
    );
    const otherSession = bodyOf<{ items: { id: string; current: boolean }[] }>(
      sessions,
    ).items.find((session) => !session.current)!;
    check(
      'revokeSession',
      await http().delete(`/v1/auth/sessions/${otherSession.id}`).set(auth),
    );
    check(
      'logout',
      await http().post('/v1/auth/logout').set(bearer(other.accessToken)),
    );
    check(
      'changePassword',
      await http().post('/v1/auth/password').set(auth).send({
        currentPassword: STRONG_PASSWORD,
        newPassword: 'Another vault passphrase 9021',
      }),
    );

    // Each on its own account: a rotation re-encrypts in the background, and recovery and
    // deletion would race with it.
    const rotating = await login(server, await registerUser(server));
    const rotated = check(
      'rotateKeys',
      await http()
        .post('/v1/me/keys/rotate')
        .set(bearer(rotating.accessToken))
        .send({ password: rotating.password }),
    );
    expect(rotated.status).toBe(200);
    const recovering = await registerUser(server);
    const recovered = check(
      'recoverAccount',
      await http().post('/v1/auth/recover').send({
        email: recovering.email,
        recoveryCode: recovering.recoveryCode,
        newPassword: 'A recovered vault passphrase 77',
      }),
    );
    expect(recovered.status).toBe(200);
    const leaving = await login(server, await registerUser(server));
    check(
      'deleteAccount',
      await http()
        .delete('/v1/me')
        .set(bearer(leaving.accessToken))
        .send({ password: leaving.password }),
    );

    check('checkLiveness', await http().get('/health/live'));
    check('checkReadiness', await http().get('/health/ready'));
    check('getProblemType', await http().get('/problems/not-found'));
    check('getProblemType', await http().get('/problems/nothing-here'));

    expect(gaps).toEqual([]);
    expect([...operations.keys()].filter((id) => !called.has(id))).toEqual([]);
  });

  it('documents the Retry-After of a 429 as sent', async () => {
    gaps.length = 0;
    const limited = await createTestApp({ env: { AUTH_RATE_LIMIT: '1' } });
    try {
      const attempt = () =>
        request(limited.app.getHttpServer())
          .post('/v1/auth/login')
          .send({ email: 'nobody@example.org', password: 'not the password' });
      await attempt();
      const refused = check('login', await attempt());
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(gaps).toEqual([]);
    } finally {
      await limited.close();
    }
  });
});
