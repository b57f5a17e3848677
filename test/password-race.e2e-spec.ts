import request from 'supertest';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import type { ProfileDto } from '../src/profile/dto/profile.dto';
import { bearer, login, registerUser } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

/**
 * issue 4: concurrent password changes are serialised; one wins, nobody is locked out, no DEK is
 * lost.
 */
describe('concurrent password changes', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp({
      env: { AUTH_RATE_LIMIT: '100000', LOGIN_FAILURE_LIMIT: '100000' },
    });
  });
  afterAll(() => t?.close());

  it('lets exactly one of two simultaneous changes win; the winner’s password opens the intact data', async () => {
    const user = await registerUser(t.app.getHttpServer(), {
      profile: { fullName: 'Race Condition' },
    });
    const a = await login(t.app.getHttpServer(), user);
    const passwords = [
      'first racing passphrase 01',
      'second racing passphrase 02',
    ];

    const results = await Promise.all(
      passwords.map((newPassword) =>
        http()
          .post('/v1/auth/password')
          .set(...bearer(a.accessToken))
          .send({ currentPassword: user.password, newPassword }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    // Both verify the same current password; the optimistic lock lets one commit. If the second
    // started after the first committed, it fails on the (now wrong) current password instead.
    expect(statuses[0]).toBe(204);
    expect([401, 409]).toContain(statuses[1]);
    if (statuses[1] === 409)
      expect(
        bodyOf<ProblemDetails>(results.find((r) => r.status === 409)!).code,
      ).toBe('conflict');

    const winner = passwords[results.findIndex((r) => r.status === 204)];
    const loser = passwords[results.findIndex((r) => r.status !== 204)];
    expect(
      (
        await http()
          .post('/v1/auth/login')
          .send({ email: user.email, password: loser })
      ).status,
    ).toBe(401);
    expect(
      (
        await http()
          .post('/v1/auth/login')
          .send({ email: user.email, password: user.password })
      ).status,
    ).toBe(401);
    const session = await login(t.app.getHttpServer(), {
      ...user,
      password: winner,
    });
    const profile = await http()
      .get('/v1/me/profile')
      .set(...bearer(session.accessToken));
    expect(bodyOf<ProfileDto>(profile).fullName).toBe('Race Condition');

    // The recovery code still opens the same keys (its wraps were untouched).
    const recovered = await http().post('/v1/auth/recover').send({
      email: user.email,
      recoveryCode: user.recoveryCode,
      newPassword: 'after the race passphrase 03',
    });
    expect(recovered.status).toBe(200);
  });
});
