import { expect } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import request, { Response } from 'supertest';
import type { App } from 'supertest/types';
import type {
  AccessKeyDto,
  AccessKeyPageDto,
  CreatedAccessKeyDto,
} from '../src/me/access-keys/dto/access-key.dto';
import type { AccessKeyScope } from '../src/common/auth/access-key-scopes';
import { ACCESS_KEY_SCOPES } from '../src/common/auth/access-key-scopes';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import type {
  ContactDto,
  ContactPageDto,
} from '../src/contacts/dto/contact.dto';
import {
  bearer,
  registerAndLogin,
  type LoggedInUser,
} from './support/auth-client';
import {
  type Canary,
  dumpDatabase,
  dumpLogs,
  dumpRedis,
  findCanaries,
} from './support/canary-scan';
import { bodyOf, type Json } from './support/http-body';
import { errorFields, expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';
import { VAULT_STORE, type VaultStore } from '@vault-pii/nest-encryption';
import { deleteRunKeys } from './support/vault-stores';
import { waitUntil } from './support/wait-until';

// docs/access-keys.md (issue 19): the HTTP API of scoped access keys, and what someone holding a
// key (or guessing one) can and cannot do with it.

const DAY_MS = 86_400_000;
const INVALID_TOKEN_CHALLENGE =
  'Bearer realm="vault-pii-api", error="invalid_token", error_description="The access token is invalid or has expired"';
const EXPIRED_KEY_CHALLENGE =
  'Bearer realm="vault-pii-api", error="invalid_token", error_description="The access key has expired"';
const SESSIONS_ONLY_CHALLENGE =
  'Bearer realm="vault-pii-api", error="insufficient_scope"';
const scopeChallenge = (scope: AccessKeyScope) =>
  `${SESSIONS_ONLY_CHALLENGE}, scope="${scope}"`;
const SECRET_PATTERN = /^vpk_[A-Za-z0-9_-]{43}$/;
const UUID_PATTERN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface KeyRequest {
  name?: unknown;
  scopes?: unknown;
  expiresAt?: unknown;
  allowedAddresses?: unknown;
  password?: unknown;
}

/** A valid create body for `user` (a day's life, contacts read and write), with `overrides`. */
function keyBody(
  user: LoggedInUser,
  overrides: KeyRequest = {},
): Record<string, unknown> {
  return {
    name: 'CRM sync',
    scopes: ['contacts:read', 'contacts:write'],
    expiresAt: new Date(Date.now() + DAY_MS).toISOString(),
    password: user.password,
    ...overrides,
  };
}

/** Talks to one app as a session or as an access key. */
class Client {
  constructor(private readonly testApp: () => TestApp) {}

  get t(): TestApp {
    return this.testApp();
  }

  server(): App {
    return this.t.app.getHttpServer();
  }

  http() {
    return request(this.server());
  }

  postKey(user: LoggedInUser, overrides: KeyRequest = {}) {
    return this.call(
      user.accessToken,
      'post',
      '/v1/me/access-keys',
      keyBody(user, overrides),
    );
  }

  /** Creates a key (201 expected) and returns its answer, secret included. */
  async createKey(
    user: LoggedInUser,
    overrides: KeyRequest = {},
  ): Promise<CreatedKey> {
    const response = await this.postKey(user, overrides);
    if (response.status !== 201)
      throw new Error(`create failed: ${response.status} ${response.text}`);
    return bodyOf<CreatedAccessKeyDto>(response);
  }

  async revokeKey(user: LoggedInUser, id: string): Promise<void> {
    const response = await this.call(
      user.accessToken,
      'delete',
      `/v1/me/access-keys/${id}`,
    );
    expect(response.status).toBe(204);
  }

  listKeys(user: LoggedInUser, query = '') {
    return this.call(user.accessToken, 'get', `/v1/me/access-keys${query}`);
  }

  /** `method path` with `token` (an access key's secret or an access token) and `body`. */
  call(token: string, method: Method, path: string, body?: object) {
    const pending = this.http()
      [method](path)
      .set(...bearer(token));
    return body ? pending.send(body) : pending;
  }

  /** GET /v1/contacts with `token` (an access key's secret or an access token). */
  listContacts(token: string) {
    return this.call(token, 'get', '/v1/contacts');
  }

  async createContact(token: string, fullName: string): Promise<string> {
    const response = await this.call(token, 'post', '/v1/contacts', {
      fullName,
    });
    expect(response.status).toBe(201);
    return bodyOf<ContactDto>(response).id;
  }

  async storedRows(sql: string, parameters: unknown[]): Promise<number> {
    const [{ n }] = await this.t.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM (${sql}) AS rows`,
      parameters,
    );
    return n;
  }

  auditCount(userId: string, event: string): Promise<number> {
    return this.storedRows(
      'SELECT 1 FROM audit_events WHERE user_id = $1 AND event = $2',
      [userId, event],
    );
  }

  /** Whether the vault store holds an entry for the access key (the store sees only its name). */
  async vaultEntryExists(id: string): Promise<boolean> {
    const store = this.t.app.get<VaultStore>(VAULT_STORE, { strict: false });
    const sealed = await store.get(`access-key:${id}`);
    return sealed !== undefined;
  }

  keyCount(userId: string): Promise<number> {
    return this.storedRows('SELECT 1 FROM access_keys WHERE user_id = $1', [
      userId,
    ]);
  }

  /**
   * Moves the key's expiry one second into the past, behind the API's back: an instance that read
   * the row in the last `ACCESS_KEY_RECHECK_MS` sees it after that, so use it on a key not used yet.
   */
  async expire(id: string): Promise<void> {
    await this.t.dataSource.query(
      `UPDATE access_keys SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
  }
}

/**
 * A fresh app (with `env` on top of the test defaults) for the enclosing describe, and a client
 * of it.
 */
function appForThisDescribe(env: Record<string, string> = {}): Client {
  let t: TestApp | undefined;
  beforeAll(async () => {
    t = await createTestApp({ env });
  });
  afterAll(() => t?.close());
  return new Client(() => t!);
}

type CreatedKey = Json<CreatedAccessKeyDto>;
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

function expectChallenge(
  response: Response,
  status: number,
  code: string,
  challenge: string,
  secrets: readonly string[] = [],
): void {
  expectProblem(response, status, code, secrets);
  expect(response.headers['www-authenticate']).toBe(challenge);
}

/** The same 32 bytes, spelled with the 2 stray bits of the last base64url character set. */
function nonCanonical(secret: string): string {
  const alphabet =
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(secret.at(-1)!);
  return secret.slice(0, -1) + alphabet[last + 1];
}

describe('access keys (issue 19)', () => {
  const client = appForThisDescribe();
  const http = () => client.http();

  describe('managing keys from a password session', () => {
    it('create: 201 with the key and its secret, Location and Cache-Control: no-store', async () => {
      const user = await registerAndLogin(client.server());
      const expiresAt = new Date(Date.now() + 7 * DAY_MS).toISOString();
      const response = await client.postKey(user, {
        name: '  Nightly export  ',
        scopes: ['profile:read', 'contacts:read'],
        expiresAt,
        allowedAddresses: ['203.0.113.0/24', '2001:db8::7'],
      });
      expect(response.status).toBe(201);
      const created = bodyOf<CreatedAccessKeyDto>(response);
      expect(created).toEqual({
        id: expect.stringMatching(UUID_PATTERN),
        name: 'Nightly export',
        scopes: ['profile:read', 'contacts:read'],
        expiresAt,
        allowedAddresses: ['203.0.113.0/24', '2001:db8::7'],
        createdAt: expect.any(String),
        lastUsedAt: null,
        secret: expect.stringMatching(SECRET_PATTERN),
      });
      expect(response.headers.location).toBe(
        `/v1/me/access-keys/${created.id}`,
      );
      expect(response.headers['cache-control']).toBe('no-store');
      // The password confirmed the create; it is not echoed.
      expect(response.text).not.toContain(user.password);
    });

    it('list and GET :id: never the secret, and GET :id is the key as created', async () => {
      const user = await registerAndLogin(client.server());
      const { secret, ...key } = await client.createKey(user);

      const list = await client.listKeys(user);
      expect(list.status).toBe(200);
      expect(bodyOf<AccessKeyPageDto>(list)).toEqual({
        items: [key],
        nextCursor: null,
      });
      const one = await client.call(
        user.accessToken,
        'get',
        `/v1/me/access-keys/${key.id}`,
      );
      expect(one.status).toBe(200);
      expect(bodyOf<AccessKeyDto>(one)).toEqual(key);
      for (const response of [list, one]) {
        expect(response.headers['cache-control']).toBe('no-store');
        expect(response.text).not.toContain('secret');
        expect(response.text).not.toContain(secret);
        expect(response.text).not.toContain(secret.slice(4));
      }
    });

    it('list: newest first, a page at a time (limit, cursor)', async () => {
      const user = await registerAndLogin(client.server());
      const ids: string[] = [];
      for (const name of ['first', 'second', 'third'])
        ids.push((await client.createKey(user, { name })).id);

      const firstPage = await client.listKeys(user, '?limit=2');
      expect(firstPage.status).toBe(200);
      const page1 = bodyOf<AccessKeyPageDto>(firstPage);
      expect(page1.items.map((key) => key.name)).toEqual(['third', 'second']);
      expect(page1.nextCursor).toEqual(expect.any(String));
      const secondPage = await client.listKeys(
        user,
        `?limit=2&cursor=${encodeURIComponent(page1.nextCursor!)}`,
      );
      const page2 = bodyOf<AccessKeyPageDto>(secondPage);
      expect(page2).toEqual({
        items: [expect.objectContaining({ id: ids[0], name: 'first' })],
        nextCursor: null,
      });
    });

    it('revoke: 204, then 404 for the same id, another user’s key and an unknown id; an id that is no uuid as well', async () => {
      const owner = await registerAndLogin(client.server());
      const other = await registerAndLogin(client.server());
      const key = await client.createKey(owner);

      const foreign = await client.call(
        other.accessToken,
        'delete',
        `/v1/me/access-keys/${key.id}`,
      );
      expectProblem(foreign, 404, 'not_found');
      expect(await client.keyCount(owner.userId)).toBe(1);

      await client.revokeKey(owner, key.id);
      expect(await client.keyCount(owner.userId)).toBe(0);
      expect(
        await client.storedRows(
          'SELECT 1 FROM access_key_data_keys WHERE access_key_id = $1',
          [key.id],
        ),
      ).toBe(0);
      for (const id of [key.id, randomUUID()])
        expectProblem(
          await client.call(
            owner.accessToken,
            'delete',
            `/v1/me/access-keys/${id}`,
          ),
          404,
          'not_found',
        );
      // As for contacts and documents: an id that is no uuid names no key.
      expectProblem(
        await client.call(
          owner.accessToken,
          'get',
          '/v1/me/access-keys/not-a-uuid',
        ),
        404,
        'not_found',
      );
    });

    describe('bad input: 400 validation_failed naming the field, never echoing the value', () => {
      let user: LoggedInUser;
      beforeAll(async () => {
        user = await registerAndLogin(client.server());
      });

      const tooMany = Array.from(
        { length: 21 },
        (_, i) => `198.51.100.${i + 1}`,
      );
      it.each<
        [
          string,
          KeyRequest | ((body: KeyRequest) => KeyRequest),
          string,
          string[],
        ]
      >([
        ['name missing', { name: undefined }, 'name', []],
        ['name empty', { name: '' }, 'name', []],
        ['name blank', { name: '    ' }, 'name', []],
        [
          'name of 101 characters',
          { name: `Canary-${'n'.repeat(94)}` },
          'name',
          ['Canary-nnnnnnnn'],
        ],
        [
          'name with a control character',
          { name: 'Canary 73154\u0007 name' },
          'name',
          ['Canary 73154'],
        ],
        [
          'name with a formatting character',
          { name: 'Canary 73154\u202e name' },
          'name',
          ['Canary 73154'],
        ],
        ['scopes empty', { scopes: [] }, 'scopes', []],
        ['scopes missing', { scopes: undefined }, 'scopes', []],
        ['scopes not an array', { scopes: 'contacts:read' }, 'scopes', []],
        [
          'an unknown scope (account:write)',
          { scopes: ['account:write'] },
          'scopes',
          ['account:write'],
        ],
        [
          'an unknown scope (contacts:admin)',
          { scopes: ['contacts:read', 'contacts:admin'] },
          'scopes',
          ['contacts:admin'],
        ],
        [
          'a duplicated scope',
          { scopes: ['contacts:read', 'contacts:read'] },
          'scopes',
          [],
        ],
        ['expiresAt missing', { expiresAt: undefined }, 'expiresAt', []],
        [
          'expiresAt not ISO 8601',
          { expiresAt: 'next Tuesday 73154' },
          'expiresAt',
          ['Tuesday 73154'],
        ],
        [
          'expiresAt not a string',
          { expiresAt: 1893456000000 },
          'expiresAt',
          [],
        ],
        [
          'expiresAt in the past',
          { expiresAt: new Date(Date.now() - 60_000).toISOString() },
          'expiresAt',
          [],
        ],
        [
          'expiresAt beyond ACCESS_KEY_MAX_TTL (90 days)',
          { expiresAt: new Date(Date.now() + 91 * DAY_MS).toISOString() },
          'expiresAt',
          [],
        ],
        [
          'an address out of range',
          { allowedAddresses: ['10.0.0.300'] },
          'allowedAddresses',
          ['10.0.0.300'],
        ],
        [
          'an IPv4 prefix over 32',
          { allowedAddresses: ['10.0.0.0/33'] },
          'allowedAddresses',
          ['10.0.0.0/33'],
        ],
        [
          'an IPv6 prefix over 128',
          { allowedAddresses: ['::1/129'] },
          'allowedAddresses',
          ['::1/129'],
        ],
        [
          'a host name',
          { allowedAddresses: ['host-73154.example'] },
          'allowedAddresses',
          ['host-73154.example'],
        ],
        ['no addresses', { allowedAddresses: [] }, 'allowedAddresses', []],
        ['21 addresses', { allowedAddresses: tooMany }, 'allowedAddresses', []],
        [
          'addresses not an array',
          { allowedAddresses: '203.0.113.7' },
          'allowedAddresses',
          [],
        ],
        ['password missing', { password: undefined }, 'password', []],
        [
          'an unknown field',
          (body) => ({ ...body, ownerId73154: randomUUID() }) as KeyRequest,
          'ownerId73154',
          [],
        ],
      ])('%s', async (_case, change, field, values) => {
        const body = keyBody(user);
        const sent =
          typeof change === 'function' ? change(body) : { ...body, ...change };
        const response = await client.call(
          user.accessToken,
          'post',
          '/v1/me/access-keys',
          sent,
        );
        expectProblem(response, 400, 'validation_failed', [
          user.password,
          ...values,
        ]);
        expect(errorFields(response)).toContain(field);
        expect(await client.keyCount(user.userId)).toBe(0);
      });
    });

    it('a wrong password: 401 invalid_credentials, audited as a failure, and no key', async () => {
      const user = await registerAndLogin(client.server());
      const wrong = 'Not the canary passphrase 90813';
      const response = await client.postKey(user, { password: wrong });
      expectProblem(response, 401, 'invalid_credentials', [wrong]);
      // The session is fine: no challenge telling the client to drop its token.
      expect(response.headers['www-authenticate']).toBeUndefined();
      expect(await client.keyCount(user.userId)).toBe(0);
      // Audited like a failed login: the create, failed.
      expect(
        await client.t.dataSource.query(
          `SELECT outcome FROM audit_events WHERE user_id = $1 AND event = 'access_key.create'`,
          [user.userId],
        ),
      ).toEqual([{ outcome: 'failure' }]);
    });
  });

  describe('only password sessions manage the account: an access key is 403 insufficient_scope', () => {
    let user: LoggedInUser;
    let secret: string;
    let keyIds: string[];

    beforeAll(async () => {
      user = await registerAndLogin(client.server());
      secret = (
        await client.createKey(user, { scopes: [...ACCESS_KEY_SCOPES] })
      ).secret;
      keyIds = bodyOf<AccessKeyPageDto>(await client.listKeys(user)).items.map(
        (key) => key.id,
      );
    });

    // Each with a body that would be accepted from a session, so only the scope can refuse it.
    const sessionOnlyRoutes = (): [Method, string, object?][] => [
      ['post', '/v1/me/access-keys', keyBody(user)],
      ['get', '/v1/me/access-keys'],
      ['get', `/v1/me/access-keys/${keyIds[0]}`],
      ['delete', `/v1/me/access-keys/${keyIds[0]}`],
      ['get', '/v1/me'],
      ['delete', '/v1/me', { password: user.password }],
      [
        'post',
        '/v1/auth/password',
        {
          currentPassword: user.password,
          newPassword: 'Canary hijacked passphrase 61720',
        },
      ],
      ['post', '/v1/me/keys/rotate', { password: user.password }],
      ['get', '/v1/auth/sessions'],
      ['delete', `/v1/auth/sessions/${randomUUID()}`],
      ['post', '/v1/auth/logout'],
    ];

    it('every account, session and key-management route refuses it', async () => {
      for (const [method, path, body] of sessionOnlyRoutes()) {
        const response = await client.call(secret, method, path, body);
        expect({ route: `${method} ${path}`, status: response.status }).toEqual(
          { route: `${method} ${path}`, status: 403 },
        );
        expectChallenge(
          response,
          403,
          'insufficient_scope',
          SESSIONS_ONLY_CHALLENGE,
          [secret, user.password],
        );
      }
    });

    it('and nothing changed: the password, the session, the keys and the key version are as before', async () => {
      const login = await http()
        .post('/v1/auth/login')
        .send({ email: user.email, password: user.password });
      expect(login.status).toBe(200);
      expect(
        (await client.call(user.accessToken, 'get', '/v1/me')).status,
      ).toBe(200);
      expect(
        bodyOf<AccessKeyPageDto>(await client.listKeys(user)).items.map(
          (key) => key.id,
        ),
      ).toEqual(keyIds);
      const [{ active_key_version: version }] = await client.t.dataSource.query<
        { active_key_version: number }[]
      >('SELECT active_key_version FROM users WHERE id = $1', [user.userId]);
      expect(version).toBe(1);
      // The key itself still works where its scopes reach.
      expect((await client.listContacts(secret)).status).toBe(200);
    });
  });

  describe('per-route scopes', () => {
    let user: LoggedInUser;
    let contactId: string;
    const keyWith = async (...scopes: AccessKeyScope[]) =>
      (await client.createKey(user, { scopes })).secret;

    beforeAll(async () => {
      user = await registerAndLogin(client.server());
      contactId = await client.createContact(user.accessToken, 'Grace Hopper');
      const profile = await client.call(
        user.accessToken,
        'patch',
        '/v1/me/profile',
        { fullName: 'Ada Lovelace' },
      );
      expect(profile.status).toBe(200);
    });

    it('contacts:read lists, gets and searches contacts', async () => {
      const secret = await keyWith('contacts:read');
      const list = await client.listContacts(secret);
      expect(list.status).toBe(200);
      expect(bodyOf<ContactPageDto>(list).items.map((c) => c.fullName)).toEqual(
        ['Grace Hopper'],
      );
      const one = await client.call(secret, 'get', `/v1/contacts/${contactId}`);
      expect(one.status).toBe(200);
      expect(bodyOf<ContactDto>(one).fullName).toBe('Grace Hopper');
      const search = await client.call(
        secret,
        'post',
        '/v1/contacts/search',
        {},
      );
      expect(search.status).toBe(200);
      expect(bodyOf<ContactPageDto>(search).items).toHaveLength(1);
    });

    it('contacts:read cannot create, change or delete: 403 with scope="contacts:write", and the contact stays as it was', async () => {
      const secret = await keyWith('contacts:read');
      const attempts = [
        await client.call(secret, 'post', '/v1/contacts', {
          fullName: 'Mallory',
        }),
        await client.call(secret, 'patch', `/v1/contacts/${contactId}`, {
          fullName: 'Mallory',
        }),
        await client.call(secret, 'delete', `/v1/contacts/${contactId}`),
      ];
      for (const response of attempts)
        expectChallenge(
          response,
          403,
          'insufficient_scope',
          scopeChallenge('contacts:write'),
        );
      const after = await client.call(
        user.accessToken,
        'get',
        `/v1/contacts/${contactId}`,
      );
      expect(bodyOf<ContactDto>(after).fullName).toBe('Grace Hopper');
      expect(
        await client.storedRows('SELECT 1 FROM contacts WHERE owner_id = $1', [
          user.userId,
        ]),
      ).toBe(1);
    });

    it('profile:read reads the profile but cannot change it (scope="profile:write")', async () => {
      const secret = await keyWith('profile:read');
      const read = await client.call(secret, 'get', '/v1/me/profile');
      expect(read.status).toBe(200);
      expect(bodyOf<{ fullName: string }>(read).fullName).toBe('Ada Lovelace');
      for (const response of [
        await client.call(secret, 'patch', '/v1/me/profile', {
          fullName: 'Mallory',
        }),
        await client.call(secret, 'put', '/v1/me/profile', {
          fullName: 'Mallory',
        }),
      ])
        expectChallenge(
          response,
          403,
          'insufficient_scope',
          scopeChallenge('profile:write'),
        );
    });

    it('profile:write without profile:read changes the profile but cannot read it (scope="profile:read")', async () => {
      const secret = await keyWith('profile:write');
      expectChallenge(
        await client.call(secret, 'get', '/v1/me/profile'),
        403,
        'insufficient_scope',
        scopeChallenge('profile:read'),
      );
      const patch = await client.call(secret, 'patch', '/v1/me/profile', {
        address: 'Somerset',
      });
      expect(patch.status).toBe(200);
      const read = await client.call(user.accessToken, 'get', '/v1/me/profile');
      expect(bodyOf<{ address: string }>(read).address).toBe('Somerset');
    });

    it('documents need documents:read to list and documents:write to upload', async () => {
      const contactsOnly = await keyWith('contacts:read', 'contacts:write');
      expectChallenge(
        await client.call(contactsOnly, 'get', '/v1/documents'),
        403,
        'insufficient_scope',
        scopeChallenge('documents:read'),
      );
      const reader = await keyWith('documents:read');
      expect((await client.call(reader, 'get', '/v1/documents')).status).toBe(
        200,
      );
      expectChallenge(
        await client.call(reader, 'post', '/v1/documents'),
        403,
        'insufficient_scope',
        scopeChallenge('documents:write'),
      );
      expectChallenge(
        await client.call(reader, 'get', '/v1/contacts'),
        403,
        'insufficient_scope',
        scopeChallenge('contacts:read'),
      );
    });
  });

  describe('refusals', () => {
    let user: LoggedInUser;
    beforeAll(async () => {
      user = await registerAndLogin(client.server());
    });

    it('a revoked key: 401 invalid_token with the invalid_token challenge, at once (its vault entry is gone)', async () => {
      const key = await client.createKey(user);
      // Used twice: the second request is served from the key's vault entry and this instance's
      // record of the key, which the revocation must not outlive.
      expect((await client.listContacts(key.secret)).status).toBe(200);
      expect((await client.listContacts(key.secret)).status).toBe(200);
      expect(await client.vaultEntryExists(key.id)).toBe(true);
      await client.revokeKey(user, key.id);
      expect(await client.vaultEntryExists(key.id)).toBe(false);
      const response = await client.listContacts(key.secret);
      expectChallenge(response, 401, 'invalid_token', INVALID_TOKEN_CHALLENGE, [
        key.secret.slice(4),
        key.id,
      ]);
    });

    it('a random well-formed vpk_ secret: 401 invalid_token', async () => {
      const forged = `vpk_${randomBytes(32).toString('base64url')}`;
      expect(forged).toMatch(SECRET_PATTERN);
      const response = await client.listContacts(forged);
      expectChallenge(response, 401, 'invalid_token', INVALID_TOKEN_CHALLENGE, [
        forged.slice(4),
      ]);
    });

    it('malformed vpk_ tokens, even spellings of a live key, are 401 invalid_token', async () => {
      const { secret } = await client.createKey(user);
      const body = secret.slice(4);
      const malformed = [
        'vpk_',
        'vpk_short',
        `${secret}=`,
        `${secret}A`,
        secret.slice(0, -1),
        nonCanonical(secret),
        `vpk_+${body.slice(1)}`,
        `vpk_ ${body}`,
        `VPK_${body}`,
        `vpk_${body.toUpperCase()}`,
        `vpk_${Buffer.from(body, 'base64url').toString('hex')}`,
      ];
      for (const token of malformed) {
        expect(token).not.toBe(secret);
        const response = await client.listContacts(token);
        expect({ token, status: response.status }).toEqual({
          token,
          status: 401,
        });
        expectChallenge(
          response,
          401,
          'invalid_token',
          INVALID_TOKEN_CHALLENGE,
        );
      }
      // The real spelling still works.
      expect((await client.listContacts(secret)).status).toBe(200);
    });

    it('an expired key: 401 access_key_expired, challenged as invalid_token, audited as refused', async () => {
      // A real expiry, a second and a half away: the key is used (and its vault entry stored)
      // before it, and refused after it without its row being read again.
      const expiresAt = Date.now() + 1500;
      const key = await client.createKey(user, {
        expiresAt: new Date(expiresAt).toISOString(),
      });
      expect((await client.listContacts(key.secret)).status).toBe(200);
      expect(await client.vaultEntryExists(key.id)).toBe(true);
      await new Promise((resolve) =>
        setTimeout(resolve, expiresAt + 50 - Date.now()),
      );
      const refusedBefore = await client.auditCount(
        user.userId,
        'access_key.refused',
      );
      const response = await client.listContacts(key.secret);
      expectChallenge(
        response,
        401,
        'access_key_expired',
        EXPIRED_KEY_CHALLENGE,
      );
      expect(await client.auditCount(user.userId, 'access_key.refused')).toBe(
        refusedBefore + 1,
      );
      // Its data keys do not wait for the store's idle expiry.
      await waitUntil(
        "the expired key's vault entry is deleted",
        async () => !(await client.vaultEntryExists(key.id)),
      );
    });

    it('a key whose expiry was moved into the past in the database: refused once its row is read again', async () => {
      const key = await client.createKey(user);
      await client.expire(key.id);
      expectChallenge(
        await client.listContacts(key.secret),
        401,
        'access_key_expired',
        EXPIRED_KEY_CHALLENGE,
      );
    });

    it('from an address not allowed: 403 access_key_address_not_allowed; a forged X-Forwarded-For does not help without TRUST_PROXY', async () => {
      expect(client.t.config.trustProxy).toBe(false);
      const { secret } = await client.createKey(user, {
        allowedAddresses: ['203.0.113.7'],
      });
      expectProblem(
        await client.listContacts(secret),
        403,
        'access_key_address_not_allowed',
        [secret],
      );
      expectProblem(
        await client.listContacts(secret).set('X-Forwarded-For', '203.0.113.7'),
        403,
        'access_key_address_not_allowed',
      );
    });

    it('from an allowed range (127.0.0.0/8, where the test client connects from): 200', async () => {
      const { secret } = await client.createKey(user, {
        allowedAddresses: ['198.51.100.0/24', '127.0.0.0/8'],
      });
      expect((await client.listContacts(secret)).status).toBe(200);
    });
  });

  it('user A’s key never reaches user B’s contacts: lists only A’s, and B’s ids are 404 (B’s contact stays)', async () => {
    const a = await registerAndLogin(client.server());
    const b = await registerAndLogin(client.server());
    await client.createContact(a.accessToken, 'Alice Contact');
    const bContact = await client.createContact(b.accessToken, 'Bob Contact');
    const { secret } = await client.createKey(a);

    const list = await client.listContacts(secret);
    expect(bodyOf<ContactPageDto>(list).items.map((c) => c.fullName)).toEqual([
      'Alice Contact',
    ]);
    expectProblem(
      await client.call(secret, 'get', `/v1/contacts/${bContact}`),
      404,
      'not_found',
    );
    expectProblem(
      await client.call(secret, 'patch', `/v1/contacts/${bContact}`, {
        fullName: 'Mallory',
      }),
      404,
      'not_found',
    );
    expectProblem(
      await client.call(secret, 'delete', `/v1/contacts/${bContact}`),
      404,
      'not_found',
    );
    const still = await client.call(
      b.accessToken,
      'get',
      `/v1/contacts/${bContact}`,
    );
    expect(still.status).toBe(200);
    expect(bodyOf<ContactDto>(still).fullName).toBe('Bob Contact');
  });

  it('audit: create, use (once a minute: five quick uses are one row), refused (expired, address, scope), revoke; each with the user id', async () => {
    const user = await registerAndLogin(client.server());
    const key = await client.createKey(user);
    expect(await client.auditCount(user.userId, 'access_key.create')).toBe(1);

    for (let i = 0; i < 5; i++)
      expect((await client.listContacts(key.secret)).status).toBe(200);
    await waitUntil(
      'the use is audited',
      async () => (await client.auditCount(user.userId, 'access_key.use')) >= 1,
    );

    const outOfScope = await client.call(key.secret, 'get', '/v1/me/profile');
    expect(outOfScope.status).toBe(403);
    const elsewhere = await client.createKey(user, {
      allowedAddresses: ['203.0.113.7'],
    });
    expect((await client.listContacts(elsewhere.secret)).status).toBe(403);
    const expired = await client.createKey(user);
    await client.expire(expired.id);
    expect((await client.listContacts(expired.secret)).status).toBe(401);
    await client.revokeKey(user, key.id);

    const events = await client.t.dataSource.query<
      { event: string; outcome: string; user_id: string }[]
    >(
      `SELECT event, outcome, user_id FROM audit_events WHERE event LIKE 'access_key.%' AND user_id = $1 ORDER BY id`,
      [user.userId],
    );
    const count = (event: string, outcome: string) =>
      events.filter((row) => row.event === event && row.outcome === outcome)
        .length;
    expect({
      create: count('access_key.create', 'success'),
      use: count('access_key.use', 'success'),
      refused: count('access_key.refused', 'failure'),
      revoke: count('access_key.revoke', 'success'),
    }).toEqual({ create: 3, use: 1, refused: 3, revoke: 1 });

    // No column can hold a secret, but look anyway.
    const everything = JSON.stringify(
      await client.t.dataSource.query('SELECT * FROM audit_events'),
    );
    for (const secret of [key.secret, elsewhere.secret, expired.secret])
      expect(everything).not.toContain(secret.slice(4));
  });

  it('lastUsedAt: null at creation, set after a use (and not after a refusal)', async () => {
    const user = await registerAndLogin(client.server());
    const key = await client.createKey(user, { scopes: ['profile:read'] });
    const lastUsedAt = async () =>
      bodyOf<AccessKeyDto>(
        await client.call(
          user.accessToken,
          'get',
          `/v1/me/access-keys/${key.id}`,
        ),
      ).lastUsedAt;

    expect((await client.listContacts(key.secret)).status).toBe(403);
    expect(await lastUsedAt()).toBeNull();
    const before = Date.now();
    expect(
      (await client.call(key.secret, 'get', '/v1/me/profile')).status,
    ).toBe(200);
    await waitUntil(
      'lastUsedAt is set',
      async () => (await lastUsedAt()) !== null,
    );
    // Database and test clocks are the same machine's: allow a second either way for rounding.
    expect(new Date((await lastUsedAt())!).getTime()).toBeGreaterThanOrEqual(
      before - 1000,
    );
  });

  it('Idempotency-Key with an access key: a replay is the same contact; the session’s same key is another scope', async () => {
    const user = await registerAndLogin(client.server());
    const { secret } = await client.createKey(user);
    const idempotencyKey = randomUUID();
    const post = (token: string) =>
      client
        .call(token, 'post', '/v1/contacts')
        .set('Idempotency-Key', idempotencyKey)
        .send({ fullName: 'Katherine Johnson' });

    const first = await post(secret);
    const replay = await post(secret);
    expect([first.status, replay.status]).toEqual([201, 201]);
    expect(bodyOf<ContactDto>(replay).id).toBe(bodyOf<ContactDto>(first).id);
    expect(first.headers['idempotency-replayed']).toBeUndefined();
    expect(replay.headers['idempotency-replayed']).toBe('true');
    const stored = () =>
      client.storedRows('SELECT 1 FROM contacts WHERE owner_id = $1', [
        user.userId,
      ]);
    expect(await stored()).toBe(1);

    const bySession = await post(user.accessToken);
    expect(bySession.status).toBe(201);
    expect(bySession.headers['idempotency-replayed']).toBeUndefined();
    expect(bodyOf<ContactDto>(bySession).id).not.toBe(
      bodyOf<ContactDto>(first).id,
    );
    expect(await stored()).toBe(2);
  });
});

describe('access keys per user (ACCESS_KEYS_PER_USER_LIMIT)', () => {
  const client = appForThisDescribe({ ACCESS_KEYS_PER_USER_LIMIT: '2' });

  it('the create past the limit is 409 limit_reached naming the setting; revoking or expiring one makes room', async () => {
    const user = await registerAndLogin(client.server());
    const first = await client.createKey(user);
    const second = await client.createKey(user);
    const refused = await client.postKey(user);
    expectProblem(refused, 409, 'limit_reached', [user.password]);
    expect(
      bodyOf<ProblemDetails & { limit: string; max: number }>(refused),
    ).toMatchObject({
      limit: 'ACCESS_KEYS_PER_USER_LIMIT',
      max: 2,
    });
    expect(await client.keyCount(user.userId)).toBe(2);

    // Another user has a budget of their own.
    await client.createKey(await registerAndLogin(client.server()));

    await client.revokeKey(user, first.id);
    await client.createKey(user);
    expect((await client.postKey(user)).status).toBe(409);
    // An expired key is no longer live: it does not count.
    await client.expire(second.id);
    await client.createKey(user);
    expect(await client.keyCount(user.userId)).toBe(3);
  });
});

describe('access keys behind a proxy (TRUST_PROXY=1)', () => {
  const client = appForThisDescribe({ TRUST_PROXY: '1' });

  it('the forwarded client address is the one checked against allowedAddresses', async () => {
    const user = await registerAndLogin(client.server());
    const { secret } = await client.createKey(user, {
      allowedAddresses: ['203.0.113.7'],
    });
    expect(
      (await client.listContacts(secret).set('X-Forwarded-For', '203.0.113.7'))
        .status,
    ).toBe(200);
    expectProblem(
      await client.listContacts(secret).set('X-Forwarded-For', '198.51.100.9'),
      403,
      'access_key_address_not_allowed',
    );
    // Only the last hop counts: a client prepending an allowed address gains nothing.
    expectProblem(
      await client
        .listContacts(secret)
        .set('X-Forwarded-For', '203.0.113.7, 198.51.100.9'),
      403,
      'access_key_address_not_allowed',
    );
  });
});

describe('per-key rate limit (ACCESS_KEY_RATE_LIMIT)', () => {
  const client = appForThisDescribe({
    ACCESS_KEY_RATE_LIMIT: '3',
    ACCESS_KEY_RATE_WINDOW: '1m',
  });
  const POLICY = '"ACCESS_KEY_RATE_LIMIT";q=3;w=60';

  it('the 4th request of a key is 429 too_many_requests with Retry-After and RateLimit headers; another key and the session are counted apart', async () => {
    const user = await registerAndLogin(client.server());
    const first = await client.createKey(user);
    const second = await client.createKey(user);

    for (const remaining of [2, 1, 0]) {
      const response = await client.listContacts(first.secret);
      expect(response.status).toBe(200);
      expect(response.headers['ratelimit-policy']).toBe(POLICY);
      expect(response.headers.ratelimit).toMatch(
        new RegExp(`^"ACCESS_KEY_RATE_LIMIT";r=${remaining};t=\\d+$`),
      );
    }
    const refused = await client.listContacts(first.secret);
    expectProblem(refused, 429, 'too_many_requests', [first.secret]);
    expect(bodyOf<Record<string, unknown>>(refused)).toMatchObject({
      limit: 'ACCESS_KEY_RATE_LIMIT',
    });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers['ratelimit-policy']).toBe(POLICY);
    expect(refused.headers.ratelimit).toBe(
      `"ACCESS_KEY_RATE_LIMIT";r=0;t=${retryAfter}`,
    );
    expect(await client.auditCount(user.userId, 'access_key.refused')).toBe(1);

    const other = await client.listContacts(second.secret);
    expect(other.status).toBe(200);
    expect(other.headers.ratelimit).toMatch(
      /^"ACCESS_KEY_RATE_LIMIT";r=2;t=\d+$/,
    );
    for (let i = 0; i < 5; i++) {
      const bySession = await client.listContacts(user.accessToken);
      expect(bySession.status).toBe(200);
      expect(bySession.headers['ratelimit-policy'] ?? '').not.toContain(
        'ACCESS_KEY_RATE_LIMIT',
      );
    }
  });
});

/**
 * The secret is the canary: shown once in the create's answer, never stored, logged or counted
 * under. After keys are created, used, refused and revoked on an app at LOG_LEVEL=trace whose
 * rate-limit counters live in Redis (a database of this file's own), every table, every Redis key
 * and every log line is searched for the secrets in every spelling.
 */
describe('access key secrets never leak', () => {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    it.skip('needs REDIS_URL (skipped: no Redis configured)', () => undefined);
    return;
  }
  const url = new URL(redisUrl);
  url.pathname = '/12';
  const env = {
    REDIS_URL: url.toString(),
    REDIS_KEY_PREFIX: `e2e-access-keys-${randomBytes(4).toString('hex')}:`,
  };
  const client = appForThisDescribe({ ...env, LOG_LEVEL: 'trace' });
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    await redis.connect();
  });
  afterAll(async () => {
    redis?.disconnect();
    // Only this run's keys (its own prefix): its rate-limit counters would linger a window.
    await deleteRunKeys(env);
  });

  it('no table, Redis key or log line holds a secret, its base64url body or its 32 bytes', async () => {
    const user = await registerAndLogin(client.server());
    const used = await client.createKey(user, {
      scopes: ['contacts:read', 'contacts:write'],
    });
    const revoked = await client.createKey(user, { name: 'to revoke' });
    const fenced = await client.createKey(user, {
      allowedAddresses: ['203.0.113.7'],
    });
    const expired = await client.createKey(user);

    await client.createContact(used.secret, 'Canary Contact');
    expect((await client.listContacts(used.secret)).status).toBe(200);
    expect(
      (await client.call(used.secret, 'get', '/v1/me/profile')).status,
    ).toBe(403);
    expect((await client.listContacts(nonCanonical(used.secret))).status).toBe(
      401,
    );
    expect((await client.listContacts(`${used.secret}=`)).status).toBe(401);
    expect((await client.listContacts(fenced.secret)).status).toBe(403);
    await client.expire(expired.id);
    expect((await client.listContacts(expired.secret)).status).toBe(401);
    expect((await client.listContacts(revoked.secret)).status).toBe(200);
    await client.revokeKey(user, revoked.id);
    expect((await client.listContacts(revoked.secret)).status).toBe(401);
    await waitUntil(
      'the uses are recorded',
      async () => (await client.auditCount(user.userId, 'access_key.use')) >= 2,
    );

    const canaries: Canary[] = [used, revoked, fenced, expired].map((key) => {
      const body = key.secret.slice(4);
      const raw = Buffer.from(body, 'base64url');
      return {
        label: `secret of ${key.name} ${key.id}`,
        text: [key.secret, body, raw.toString('base64'), raw.toString('hex')],
        bytes: [raw],
      };
    });
    // Control: the search sees a secret as text and its bytes as hex.
    const control = Buffer.from(used.secret.slice(4), 'base64url');
    expect(
      findCanaries(canaries, [
        ...dumpLogs([{ msg: `token ${used.secret.toLowerCase()}` }]),
        { where: 'bytes', text: [], hex: [`00${control.toString('hex')}00`] },
      ]).map((finding) => finding.how),
    ).toEqual(['text', 'hex']);
    const { dumps: tables, rowCounts } = await dumpDatabase(
      client.t.dataSource,
    );
    const { dumps: keys } = await dumpRedis(redis);
    // The places searched are not empty: keys, their wraps, their audit trail, their counters.
    expect(rowCounts.access_keys).toBe(3);
    expect(rowCounts.access_key_data_keys).toBeGreaterThanOrEqual(3);
    expect(keys.some((dump) => dump.where.includes(env.REDIS_KEY_PREFIX))).toBe(
      true,
    );
    expect(client.t.logs.length).toBeGreaterThan(10);
    expect(
      findCanaries(canaries, [...tables, ...keys, ...dumpLogs(client.t.logs)]),
    ).toEqual([]);
  });
});
