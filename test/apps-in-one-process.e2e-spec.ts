import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Two apps in one Node process (as e2e suites start them) authenticate each with its own JWT key
 * and vault. passport's process-wide strategy registry once made the last app created answer
 * every app's tokens: the first app refused its own sessions while the second ran, and answered
 * 503 vault_unavailable once the second had closed its vault.
 */
describe('two apps in one process', () => {
  let first: TestApp;
  const profileOf = (app: TestApp, user: LoggedInUser) =>
    request(app.app.getHttpServer())
      .get('/v1/me/profile')
      .set(...bearer(user.accessToken));

  beforeAll(async () => {
    first = await createTestApp();
  });
  afterAll(() => first?.close());

  it('each app accepts its own sessions and refuses the other’s tokens while both run', async () => {
    const other = await createTestApp();
    try {
      const ours = await registerAndLogin(first.app.getHttpServer());
      const theirs = await registerAndLogin(other.app.getHttpServer());
      expect((await profileOf(first, ours)).status).toBe(200);
      expect((await profileOf(other, theirs)).status).toBe(200);
      // Another master key, hence another JWT signing key.
      expectProblem(await profileOf(first, theirs), 401, 'invalid_token');
      expectProblem(await profileOf(other, ours), 401, 'invalid_token');
    } finally {
      await other.close();
    }
  });

  it('an app keeps serving its sessions after a second instance on its database has closed', async () => {
    const masterKey = randomBytes(32).toString('base64');
    const app = await createTestApp({ env: { APP_MASTER_KEY: masterKey } });
    try {
      const user = await registerAndLogin(app.app.getHttpServer());
      const second = await createTestApp({
        sharedDatabase: app.database,
        env: { APP_MASTER_KEY: masterKey },
      });
      await second.close();
      expect((await profileOf(app, user)).status).toBe(200);
      const document = await request(app.app.getHttpServer())
        .post('/v1/documents')
        .set(...bearer(user.accessToken))
        .send({ kind: 'profile-summary' });
      expect(document.status).toBe(201);
    } finally {
      await app.close();
    }
  });
});
