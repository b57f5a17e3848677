import { Controller, Get, Param, Post } from '@nestjs/common';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { Public } from '../src/common/auth/public.decorator';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { Repository } from 'typeorm';
import {
  generateDataKey,
  OWASP_MINIMUM_ARGON2_PARAMS,
} from '@vault-pii/nest-encryption/crypto';
import { KeyContext, Keyring } from '@vault-pii/nest-encryption';
import { assertStoredAsCiphertext } from '@vault-pii/nest-encryption/testing';
import { UserDataKey } from '../src/users/user-data-key.entity';
import { User } from '../src/users/user.entity';
import { bodyOf } from './support/http-body';
import { createTestApp, TestApp } from './support/test-app';

const canaryEmail = (id: string) => `canary.integrity+${id}@example.org`;
const dataKeys = new Map<string, Buffer>();

/** Test-only routes: attach a user's keyring as the auth guard will, then touch encrypted data. */
@Public()
@Controller('probe/users')
class EncryptedUserProbeController {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
  ) {}

  @Post()
  async create(): Promise<{ id: string }> {
    const id = randomUUID();
    dataKeys.set(id, generateDataKey());
    this.attachKeysOf(id);
    // With its wrapped-key row, as registration writes it: a ciphertext commits only under a key
    // version its owner holds (KeyVersionWriteGuard).
    await this.users.manager.transaction(async (manager) => {
      await manager.insert(
        User,
        manager.create(User, {
          id,
          email: canaryEmail(id),
          authVerifier: randomBytes(32),
          kdfSalt: randomBytes(16),
          kdfParams: OWASP_MINIMUM_ARGON2_PARAMS,
          recoverySalt: randomBytes(16),
          activeKeyVersion: 1,
        }),
      );
      await manager.insert(UserDataKey, {
        userId: id,
        keyVersion: 1,
        wrappedByPassword: randomBytes(72),
        wrappedByRecovery: randomBytes(72),
      });
    });
    return { id };
  }

  @Get(':id')
  async read(@Param('id') id: string): Promise<{ email: string }> {
    this.attachKeysOf(id);
    const user = await this.users.findOneByOrFail({ id });
    return { email: user.email };
  }

  @Get(':id/without-keys')
  async readWithoutKeys(@Param('id') id: string): Promise<{ email: string }> {
    const user = await this.users.findOneByOrFail({ id });
    return { email: user.email };
  }

  private attachKeysOf(id: string): void {
    KeyContext.attach(
      new Keyring(id, new Map([[1, Buffer.from(dataKeys.get(id)!)]]), 1),
    );
  }
}

describe('encrypted data over HTTP', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());

  beforeAll(async () => {
    t = await createTestApp({
      extra: {
        controllers: [EncryptedUserProbeController],
        imports: [TypeOrmModule.forFeature([User])],
      },
    });
  });
  afterAll(() => t?.close());

  it('stores the email encrypted and reads it back within the request that holds the keys', async () => {
    const { id } = bodyOf<{ id: string }>(
      await http().post('/v1/probe/users').expect(201),
    );
    const row = await assertStoredAsCiphertext(t.dataSource, User, id, {
      keyVersion: 1,
      plaintexts: [canaryEmail(id), 'canary'],
    });
    expect(row.email_index).toHaveLength(32);
    expect(
      (await http().get(`/v1/probe/users/${id}`).expect(200)).body,
    ).toEqual({ email: canaryEmail(id) });
  });

  it('answers 500 key_unavailable when a route touches encrypted data without keys', async () => {
    const { id } = bodyOf<{ id: string }>(
      await http().post('/v1/probe/users').expect(201),
    );
    const response = await http().get(`/v1/probe/users/${id}/without-keys`);
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toMatch(
      /^application\/problem\+json/,
    );
    expect(bodyOf<ProblemDetails>(response).code).toBe('key_unavailable');
    expect(JSON.stringify(response.body)).not.toContain('canary');
  });

  it('answers a tampered ciphertext with 500 data_integrity_error, logged with table and column only', async () => {
    const { id } = bodyOf<{ id: string }>(
      await http().post('/v1/probe/users').expect(201),
    );
    await t.dataSource.query(
      'UPDATE users SET email = set_byte(email, length(email) - 1, get_byte(email, length(email) - 1) # 128) WHERE id = $1',
      [id],
    );
    const response = await http().get(`/v1/probe/users/${id}`);
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toMatch(
      /^application\/problem\+json/,
    );
    expect(response.body).toMatchObject({
      code: 'data_integrity_error',
      status: 500,
    });
    expect(JSON.stringify(response.body)).not.toContain('canary');
    expect(response.body).not.toHaveProperty('table');
    expect(response.body).not.toHaveProperty('column');

    const line = t.logs.find((l) => l.code === 'data_integrity_error');
    expect(line).toMatchObject({
      level: 50,
      table: 'users',
      column: 'email',
      reason: 'AuthenticationFailedError',
    });
    expect(JSON.stringify(t.logs)).not.toContain('canary');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the audit write is not awaited by the response
    const events = await t.dataSource.query<
      { outcome: string; request_id: string }[]
    >(
      "SELECT outcome, request_id FROM audit_events WHERE event = 'data.integrity_failure'",
    );
    expect(events).toContainEqual({
      outcome: 'failure',
      request_id: bodyOf<ProblemDetails>(response).requestId,
    });
  });

  it('zeroes the request keyring once the response is sent', async () => {
    const { id } = bodyOf<{ id: string }>(
      await http().post('/v1/probe/users').expect(201),
    );
    const key = dataKeys.get(id)!;
    const seen: Keyring[] = [];
    const attach = KeyContext.attach.bind(KeyContext);
    const spy = jest
      .spyOn(KeyContext, 'attach')
      .mockImplementation((keyring: Keyring) => {
        seen.push(keyring);
        attach(keyring);
      });
    try {
      await http().get(`/v1/probe/users/${id}`).expect(200);
    } finally {
      spy.mockRestore();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0].isZeroed).toBe(true);
    expect(key.equals(Buffer.alloc(32))).toBe(false); // the original stays: only the request's copy is wiped
  });
});

describe('readiness with the Redis vault store', () => {
  it('answers 503 with the vault down when Redis does not answer, quickly', async () => {
    const t = await createTestApp({
      env: { REDIS_URL: 'redis://127.0.0.1:1' },
    });
    try {
      const started = Date.now();
      const response = await request(t.app.getHttpServer()).get(
        '/health/ready',
      );
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({
        code: 'not_ready',
        checks: { database: 'up', vault: 'down', documents: 'up' },
      });
    } finally {
      await t.close();
    }
  });

  const redisUrl = process.env.REDIS_URL;
  (redisUrl ? it : it.skip)(
    'answers 200 with a live Redis (REDIS_URL)',
    async () => {
      const t = await createTestApp({ env: { REDIS_URL: redisUrl as string } });
      try {
        const response = await request(t.app.getHttpServer()).get(
          '/health/ready',
        );
        expect(response.body).toEqual({
          status: 'ok',
          checks: { database: 'up', vault: 'up', documents: 'up' },
          keyMemory: 'locked',
        });
      } finally {
        await t.close();
      }
    },
  );
  if (!redisUrl)
    console.warn('Redis readiness test skipped: REDIS_URL is not set');
});
