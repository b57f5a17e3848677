import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { TokenPairDto } from '../src/auth/dto/auth.dto';
import { secureMemoryStatus } from '@vault-pii/nest-encryption/crypto';
import type { DocumentDto } from '../src/documents/dto/document.dto';
import type { MeDto } from '../src/me/me.controller';
import { AppProcess, startAppProcess } from './support/app-process';
import { bearer, login, registerUser } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { waitUntil } from './support/wait-until';

/**
 * docs/crypto.md#keys-in-memory, issue 12: keys live in locked memory, every request gives back the
 * key memory it took, and the start-up self-check tells when locking does not work.
 */
describe('key memory (issue 12)', () => {
  describe('in the running app', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(() => t?.close());

    it('/health/ready says key memory is locked', async () => {
      const response = await request(t.app.getHttpServer())
        .get('/health/ready')
        .expect(200);
      expect(response.body).toMatchObject({
        status: 'ok',
        keyMemory: 'locked',
      });
    });

    it('gives back every key slot a request took: a whole account flow leaves secure memory as it found it', async () => {
      const server = t.app.getHttpServer();
      const flow = async () => {
        const registered = await registerUser(server, {
          profile: { fullName: 'Ada Lovelace' },
        });
        const user = await login(server, registered);
        const auth = bearer(user.accessToken);
        await request(server)
          .patch('/v1/me/profile')
          .set(...auth)
          .send({ fullName: 'Ada', phone: '+44 20 7946 0000' })
          .expect(200);
        await request(server)
          .post('/v1/contacts')
          .set(...auth)
          .send({ fullName: 'Charles', email: 'c@example.org' })
          .expect(201);
        await request(server)
          .get('/v1/contacts?email=c@example.org')
          .set(...auth)
          .expect(200);
        const document = await request(server)
          .post('/v1/documents')
          .set(...auth)
          .send({ kind: 'profile-summary' })
          .expect(201);
        await request(server)
          .get(`/v1/documents/${bodyOf<DocumentDto>(document).id}/content`)
          .set(...auth)
          .expect(200);
        const refreshed = bodyOf<TokenPairDto>(
          await request(server)
            .post('/v1/auth/refresh')
            .send({ refreshToken: user.refreshToken })
            .expect(200),
        );
        await request(server)
          .post('/v1/auth/password')
          .set(...bearer(refreshed.accessToken))
          .send({
            currentPassword: user.password,
            newPassword: `${user.password} renewed`,
          })
          .expect(204);
        await request(server)
          .post('/v1/auth/login')
          .send({ email: user.email, password: 'not the password at all' })
          .expect(401);
        const renewed = { ...registered, password: `${user.password} renewed` };
        const rotating = await login(server, renewed);
        await request(server)
          .post('/v1/me/keys/rotate')
          .set(...bearer(rotating.accessToken))
          .send({ password: renewed.password })
          .expect(200);
        // The re-encryption job holds keyring copies until it has destroyed the old key.
        await waitUntil('the rotation is done', async () => {
          const me = await request(server)
            .get('/v1/me')
            .set(...bearer(rotating.accessToken));
          return me.status === 200 && bodyOf<MeDto>(me).keyRotation === null;
        });
        await request(server)
          .get('/v1/me/profile')
          .set(...bearer(rotating.accessToken))
          .expect(200);
        await request(server)
          .post('/v1/auth/logout')
          .set(...bearer(rotating.accessToken))
          .expect(204);
        await request(server)
          .post('/v1/auth/logout')
          .set(...bearer(refreshed.accessToken))
          .expect(401);
      };
      // Keyrings are released when each response has finished, and a rotation job's copies when
      // the job has wound up: both can trail the client a little. Read the count once it holds still.
      const settledSlots = async () => {
        let previous = -1;
        await waitUntil(
          'the slots in use hold still',
          async () => {
            await new Promise((resolve) => setTimeout(resolve, 250));
            const current = secureMemoryStatus().slotsInUse;
            const still = current === previous;
            previous = current;
            return still;
          },
          { timeoutMs: 5_000 },
        );
        return previous;
      };
      await flow(); // first use allocates the scratch areas that live for the process
      const before = await settledSlots();
      for (let i = 0; i < 3; i++) await flow();
      // A leak of one slot per flow shows as 3 more; the process's own long-lived slots never shrink.
      expect(await settledSlots()).toBeLessThanOrEqual(before);
    });
  });

  describe('the start-up self-check in a real process', () => {
    let database: TestDatabase;
    let dataDir: string;
    const processes: AppProcess[] = [];
    beforeAll(async () => {
      database = await createTestDatabase();
      dataDir = mkdtempSync(join(tmpdir(), 'e2e-key-memory-'));
    });
    afterAll(async () => {
      for (const app of processes) {
        if (app.child.exitCode === null && app.child.signalCode === null)
          app.child.kill('SIGTERM');
        await app.exited;
      }
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const production = () => ({
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
      DATA_DIR: dataDir,
    });

    async function readiness(
      app: AppProcess,
    ): Promise<Record<string, unknown>> {
      await app.waitForOutput(/listening on/, 60_000);
      const response = await fetch(`http://127.0.0.1:${app.port}/health/ready`);
      return (await response.json()) as Record<string, unknown>;
    }

    it('reports locked key memory when mlock works', async () => {
      const app = await startAppProcess(production());
      processes.push(app);
      expect(await readiness(app)).toMatchObject({
        status: 'ok',
        keyMemory: 'locked',
      });
      expect(app.output()).toMatch(/key memory is locked/);
    });

    it('starts but warns loudly, naming the fix, and /health/ready says unlocked, when mlock is refused', async () => {
      // Root may lock memory whatever the limit (CAP_IPC_LOCK): drop that capability, then set
      // RLIMIT_MEMLOCK to zero, as an unprivileged container with default limits would be.
      const app = await startAppProcess(production(), [
        'setpriv',
        '--inh-caps=-ipc_lock',
        '--bounding-set=-ipc_lock',
        'prlimit',
        '--memlock=0:0',
      ]);
      processes.push(app);
      expect(await readiness(app)).toMatchObject({
        status: 'ok',
        keyMemory: 'unlocked',
      });
      const warning = app
        .output()
        .split('\n')
        .find((line) => line.includes('key memory is NOT locked'));
      expect(warning).toBeDefined();
      expect(JSON.parse(warning as string)).toMatchObject({ level: 50 }); // error level in production
      expect(warning).toMatch(/ulimit -l/);
      expect(warning).toMatch(/IPC_LOCK/);
      expect(warning).toMatch(/RLIMIT_MEMLOCK 0 bytes/);
    });
  });
});
