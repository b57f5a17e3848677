import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { AccountFlowsService } from '../src/auth/account-flows.service';
import type { RegisteredDto } from '../src/auth/dto/auth.dto';
import type { ProblemDetails } from '../src/common/problem/problem-details';
import { ServerKeys } from '../src/config/server-keys';
import { Contact } from '../src/contacts/contact.entity';
import type {
  ContactDto,
  ContactPageDto,
} from '../src/contacts/dto/contact.dto';
import {
  computeBlindIndex,
  deriveBlindIndexKey,
} from '@vault-pii/nest-encryption/crypto';
import { legacyNormalizeEmail } from '../src/crypto/email-address';
import { KeyContext } from '@vault-pii/nest-encryption';
import {
  bearer,
  LoggedInUser,
  registerAndLogin,
  STRONG_PASSWORD,
} from './support/auth-client';
import { bodyOf } from './support/http-body';
import { unlockKeyring } from './support/key-rotation-seed';
import { errorFields, expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';

/**
 * Issue 15: one normalisation for every email the API takes (docs/http-api.md#emails), the rows
 * indexed under the old one still found, and every bad address a 400 naming the field.
 */

/** `ada@example.org` → `ａｄａ＠ｅｘａｍｐｌｅ．ｏｒｇ`: what a CJK input method types. */
const fullWidth = (ascii: string) =>
  ascii.replace(/[!-~]/g, (c) =>
    String.fromCharCode(c.charCodeAt(0) - 0x21 + 0xff01),
  );

/** Every way of typing `<local>@bücher.de` the API must take as one address. */
const spellingsOf = (local: string) => [
  `${local}@b\u00fccher.de`,
  `  ${local.toUpperCase()}@B\u00dcCHER.DE \t`,
  `${local}@xn--bcher-kva.de`,
  `${local.toUpperCase()}@XN--BCHER-KVA.DE`,
  `${local}@bu\u0308cher.de`,
  fullWidth(`${local}@xn--bcher-kva.de`),
  `${fullWidth(local.toUpperCase())}\uff20b\u00fccher\uff0ede`,
];

const NEW_PASSWORD = 'Another sturdy passphrase 5521';

describe('emails (docs/http-api.md#emails)', () => {
  let t: TestApp;
  const http = () => request(t.app.getHttpServer());
  const tag = () => randomBytes(4).toString('hex');

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        LOG_LEVEL: 'trace',
        LOGIN_FAILURE_LIMIT: '100000',
        REGISTER_EMAIL_LIMIT: '100000',
      },
    });
  });
  afterAll(() => t?.close());

  const register = (email: string) =>
    http().post('/v1/auth/register').send({ email, password: STRONG_PASSWORD });
  const loginAs = (email: string, password = STRONG_PASSWORD) =>
    http().post('/v1/auth/login').send({ email, password });
  const recover = (email: string, recoveryCode: string) =>
    http()
      .post('/v1/auth/recover')
      .send({ email, recoveryCode, newPassword: NEW_PASSWORD });
  const search = (user: LoggedInUser, email: string) =>
    http()
      .get(`/v1/contacts?email=${encodeURIComponent(email)}`)
      .set(...bearer(user.accessToken));
  const foundIds = (response: request.Response) =>
    bodyOf<ContactPageDto>(response).items.map((contact) => contact.id);
  /** Each spelling of `<local>@bücher.de` finds exactly the contact `id`. */
  const expectEverySpellingFinds = async (
    owner: LoggedInUser,
    local: string,
    id: string,
  ) => {
    for (const spelling of spellingsOf(local))
      expect({
        spelling,
        found: foundIds(await search(owner, spelling)),
      }).toEqual({ spelling, found: [id] });
  };
  const emailIndexOf = async (userId: string) =>
    (
      await t.dataSource.query<{ email_index: Buffer }[]>(
        'SELECT email_index FROM users WHERE id = $1',
        [userId],
      )
    )[0].email_index;

  describe('every spelling of one address is one account and one contact', () => {
    it('register stores the canonical form; every spelling is then 409 email_taken, logs in and recovers', async () => {
      const local = `ada.${tag()}`;
      const canonical = `${local}@xn--bcher-kva.de`;
      const created = await register(`  Ada.${local.slice(4)}@B\u00fccher.DE `);
      expect(created.status).toBe(201);
      expect(bodyOf<RegisteredDto>(created).email).toBe(canonical);

      for (const spelling of spellingsOf(local)) {
        expectProblem(await register(spelling), 409, 'email_taken');
        const login = await loginAs(spelling);
        expect({ spelling, status: login.status }).toEqual({
          spelling,
          status: 200,
        });
      }

      const recovered = await recover(
        fullWidth(local) + '@B\u00dcCHER.de',
        bodyOf<RegisteredDto>(created).recoveryCode,
      );
      expect(recovered.status).toBe(200);
      expect((await loginAs(` ${canonical} `, NEW_PASSWORD)).status).toBe(200);
      const me = await http()
        .get('/v1/me')
        .set(
          ...bearer(
            bodyOf<{ accessToken: string }>(
              await loginAs(`${local}@b\u00fccher.de`, NEW_PASSWORD),
            ).accessToken,
          ),
        );
      expect(bodyOf<{ email: string }>(me).email).toBe(canonical);
    });

    it('a contact is stored in canonical form and found by every spelling, surrounding spaces included', async () => {
      const owner = await registerAndLogin(t.app.getHttpServer());
      const local = `grace.${tag()}`;
      const created = await http()
        .post('/v1/contacts')
        .set(...bearer(owner.accessToken))
        .send({
          fullName: 'Grace',
          email: ` ${local.toUpperCase()}@B\u00fccher.de `,
        });
      expect(created.status).toBe(201);
      const contact = bodyOf<ContactDto>(created);
      expect(contact.email).toBe(`${local}@xn--bcher-kva.de`);
      await expectEverySpellingFinds(owner, local, contact.id);

      const patched = await http()
        .patch(`/v1/contacts/${contact.id}`)
        .set(...bearer(owner.accessToken))
        .send({ email: fullWidth(`${local}.two@example.org`) });
      expect(bodyOf<ContactDto>(patched).email).toBe(
        `${local}.two@example.org`,
      );
      expect(
        foundIds(await search(owner, ` ${local}.TWO@example.org `)),
      ).toEqual([contact.id]);
      expect(foundIds(await search(owner, `${local}@b\u00fccher.de`))).toEqual(
        [],
      );
    });
  });

  describe('rows indexed under the legacy normalisation (NFC + lower-case) are still found', () => {
    /**
     * An account as the code before issue 15 wrote it: the email stored (encrypted) in its legacy
     * form, `users.email_index` the server-keyed HMAC of that form.
     */
    async function seedLegacyAccount(typed: string) {
      const legacy = legacyNormalizeEmail(typed);
      const { userId, recoveryCode } = await t.app
        .get(AccountFlowsService)
        .register(legacy, STRONG_PASSWORD, undefined, {});
      const legacyIndex = computeBlindIndex(
        t.app.get(ServerKeys).blindIndexKey,
        legacy,
      );
      await t.dataSource.query(
        'UPDATE users SET email_index = $1 WHERE id = $2',
        [legacyIndex, userId],
      );
      return { userId, recoveryCode, legacyIndex };
    }

    const currentIndex = (email: string) =>
      computeBlindIndex(t.app.get(ServerKeys).blindIndexKey, email);

    it('register answers 409, and login finds the account by any spelling and moves it to the current index', async () => {
      const local = `legacy.${tag()}`;
      const { userId, legacyIndex } = await seedLegacyAccount(
        `${local.toUpperCase()}@B\u00dccher.de`,
      );
      expect((await emailIndexOf(userId)).equals(legacyIndex)).toBe(true);

      for (const spelling of spellingsOf(local))
        expectProblem(await register(spelling), 409, 'email_taken');
      expect((await emailIndexOf(userId)).equals(legacyIndex)).toBe(true);

      // A wrong password rewrites nothing.
      expectProblem(
        await loginAs(`${local}@xn--bcher-kva.de`, 'not the password at all'),
        401,
        'invalid_credentials',
      );
      expect((await emailIndexOf(userId)).equals(legacyIndex)).toBe(true);

      expect((await loginAs(`${local}@xn--bcher-kva.de`)).status).toBe(200);
      expect(
        (await emailIndexOf(userId)).equals(
          currentIndex(`${local}@xn--bcher-kva.de`),
        ),
      ).toBe(true);
      for (const spelling of spellingsOf(local)) {
        expect((await loginAs(spelling)).status).toBe(200);
        expectProblem(await register(spelling), 409, 'email_taken');
      }
    });

    it('recover finds the account by its punycode spelling and moves it to the current index', async () => {
      const local = `legacy.${tag()}`;
      const { userId, recoveryCode } = await seedLegacyAccount(
        `${local}@b\u00fccher.de`,
      );
      const recovered = await recover(
        `${local.toUpperCase()}@XN--BCHER-KVA.DE`,
        recoveryCode,
      );
      expect(recovered.status).toBe(200);
      expect(
        (await emailIndexOf(userId)).equals(
          currentIndex(`${local}@xn--bcher-kva.de`),
        ),
      ).toBe(true);
      expect(
        (await loginAs(`${local}@b\u00fccher.de`, NEW_PASSWORD)).status,
      ).toBe(200);
    });

    it('contact search finds a contact indexed under the legacy form; saving the contact moves it to the current index', async () => {
      const owner = await registerAndLogin(t.app.getHttpServer());
      const local = `legacy.contact.${tag()}`;
      const legacy = legacyNormalizeEmail(`${local}@B\u00fccher.de`);
      const keyring = await unlockKeyring(t, owner.userId, owner.password);
      const indexKey = deriveBlindIndexKey(
        keyring.key(keyring.activeVersion) as Buffer,
        'contacts.emailIndex',
      );
      const legacyIndex = computeBlindIndex(indexKey, legacy);
      const current = computeBlindIndex(indexKey, `${local}@xn--bcher-kva.de`);
      const id = await KeyContext.runWithKeyring(keyring, () =>
        t.dataSource.transaction(async (manager) => {
          const saved = await manager.save(
            manager.create(Contact, {
              ownerId: owner.userId,
              fullName: 'Legacy Contact',
              email: legacy,
            }),
          );
          return saved.id;
        }),
      );
      await t.dataSource.query(
        'UPDATE contacts SET email_index = $1 WHERE id = $2',
        [legacyIndex, id],
      );

      await expectEverySpellingFinds(owner, local, id);

      const patched = await http()
        .patch(`/v1/contacts/${id}`)
        .set(...bearer(owner.accessToken))
        .send({ notes: 'saved again' });
      expect(patched.status).toBe(200);
      const [row] = await t.dataSource.query<{ email_index: Buffer }[]>(
        'SELECT email_index FROM contacts WHERE id = $1',
        [id],
      );
      expect(row.email_index.equals(current)).toBe(true);
      expect(foundIds(await search(owner, `${local}@b\u00fccher.de`))).toEqual([
        id,
      ]);
    });
  });

  describe('a bad address on every email input is a 400 naming the field, never a 500', () => {
    const CANARY = 'echo.canary.5173';
    let owner: LoggedInUser;
    let contactId: string;

    beforeAll(async () => {
      owner = await registerAndLogin(t.app.getHttpServer());
      contactId = bodyOf<ContactDto>(
        await http()
          .post('/v1/contacts')
          .set(...bearer(owner.accessToken))
          .send({ fullName: 'Target' }),
      ).id;
    });

    const BAD: [string, string][] = [
      ['a lone surrogate', '\ud800'],
      ['a lone surrogate in an address', `${CANARY}\ud800@example.org`],
      ['a lone low surrogate in the domain', `${CANARY}@exa\udc00mple.org`],
      ['a zero-width space', `${CANARY}\u200b@example.org`],
      ['a zero-width joiner in the domain', `${CANARY}@exam\u200dple.org`],
      ['a soft hyphen', `${CANARY}@ex\u00adample.org`],
      ['a BOM', `\ufeff${CANARY}@example.org`],
      ['a right-to-left override', `${CANARY}\u202e@example.org`],
      ['an overlong address', `${CANARY}.${'x'.repeat(250)}@example.org`],
      ['10 kB', `${CANARY}${'x'.repeat(10_000)}@example.org`],
      ['a domain with a space', `${CANARY}@exa mple.org`],
      ['invalid punycode', `${CANARY}@xn--zz.org`],
      ['a percent-encoded domain', `${CANARY}@ex%41mple.org`],
      ['no domain at all', `${CANARY}@`],
    ];

    const ROUTES: [string, (email: string) => request.Test][] = [
      ['POST /v1/auth/register', (email) => register(email)],
      ['POST /v1/auth/login', (email) => loginAs(email)],
      [
        'POST /v1/auth/recover',
        (email) => recover(email, 'ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345'),
      ],
      [
        'POST /v1/contacts',
        (email) =>
          http()
            .post('/v1/contacts')
            .set(...bearer(owner.accessToken))
            .send({ fullName: 'x', email }),
      ],
      [
        'PATCH /v1/contacts/:id',
        (email) =>
          http()
            .patch(`/v1/contacts/${contactId}`)
            .set(...bearer(owner.accessToken))
            .send({ email }),
      ],
    ];

    describe.each(ROUTES)('%s', (_route, send) => {
      it.each(BAD)('refuses %s', async (_case, email) => {
        const response = await send(email);
        expectProblem(response, 400, 'validation_failed', [CANARY]);
        expect(errorFields(response)).toEqual(['email']);
        expect(bodyOf<ProblemDetails>(response).errors?.[0].messages).toEqual([
          expect.stringMatching(/^email must /),
        ]);
      });
    });

    const ENCODED: [string, string][] = [
      ...BAD.filter(([, email]) => !/\p{Cs}/u.test(email)).map(
        ([name, email]): [string, string] => [name, encodeURIComponent(email)],
      ),
      // A lone surrogate cannot be percent-encoded as UTF-8: its bytes are invalid UTF-8.
      ['the bytes of a lone surrogate', `${CANARY}%ED%A0%80%40example.org`],
    ];
    it.each(ENCODED)(
      'GET /v1/contacts?email= refuses %s',
      async (_case, encoded) => {
        const response = await http()
          .get(`/v1/contacts?email=${encoded}`)
          .set(...bearer(owner.accessToken));
        expectProblem(response, 400, 'validation_failed', [CANARY]);
        expect(errorFields(response)).toEqual(['email']);
      },
    );

    it('wrote no submitted address to any log line, and nothing at error level', () => {
      const logs = JSON.stringify(t.logs);
      expect(logs).not.toContain(CANARY);
      expect(t.logs.filter((line) => Number(line.level) >= 50)).toEqual([]);
    });
  });
});
