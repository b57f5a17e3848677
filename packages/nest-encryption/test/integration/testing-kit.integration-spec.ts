import { Controller, Get } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  Column,
  DataSource,
  Entity,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import {
  EncryptedColumn,
  KeyContext,
  KeyringUnlocked,
  KeyUnavailableError,
  SessionLockedError,
} from '@vault-pii/nest-encryption';
import {
  assertStoredAsCiphertext,
  assertStoredAsPlaintext,
  createEncryptionTestingModule,
  createTestDatabase,
  createUserWithKeys,
  EncryptionTestingContext,
  startTestPostgres,
  StoredValueAssertionError,
  TestUser,
  withPgClient,
  withUserKeys,
} from '@vault-pii/nest-encryption/testing';

/** The test kit itself (docs/testing.md), on real PostgreSQL: what it builds, and what it undoes. */

@Entity({ name: 'kit_notes' })
class KitNote {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @EncryptedColumn({ name: 'body_text' })
  body: string | null;

  @EncryptedColumn()
  title: string | null;

  @Column({ type: 'text', nullable: true })
  label: string | null;
}

/** The app's own record of a user, written by `createUserWithKeys`'s `persist` hook. */
@Entity({ name: 'kit_users' })
class KitUser {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'key_versions', type: 'int' })
  keyVersions: number;
}

/** Answers whether the request runs in a key scope (KeyContextMiddleware) and holds keys. */
@Controller('scope')
class ScopeController {
  @Get()
  scope(): { inScope: boolean } {
    let inScope = true;
    try {
      KeyContext.scopeReleaser();
    } catch {
      inScope = false;
    }
    return { inScope };
  }
}

const databaseExists = (serverUrl: string, name: string) =>
  withPgClient(serverUrl, async (client) => {
    const { rowCount } = await client.query(
      'SELECT 1 FROM pg_database WHERE datname = $1',
      [name],
    );
    return rowCount === 1;
  });

describe('the test kit', () => {
  let context: EncryptionTestingContext;
  let alice: TestUser;
  const opened: KeyringUnlocked[] = [];
  const notes = () => context.dataSource.getRepository(KitNote);
  const write = (owner: TestUser, values: Partial<KitNote>) =>
    withUserKeys(owner, () =>
      notes().save(notes().create({ ownerId: owner.userId, ...values })),
    );

  beforeAll(async () => {
    context = await createEncryptionTestingModule({
      entities: [KitNote, KitUser],
      controllers: [ScopeController],
    });
    context.vault.onKeyringUnlocked((event) => opened.push(event));
    alice = await createUserWithKeys(context);
  });
  afterAll(() => context?.close());

  describe('createEncryptionTestingModule', () => {
    it('runs every request in a key scope (KeyContextMiddleware)', async () => {
      await request(context.app.getHttpServer())
        .get('/scope')
        .expect(200, { inScope: true });
    });

    it('binds the encrypted columns on a fresh database of its own', async () => {
      expect(context.database.name).toMatch(/^test_/);
      expect(context.dataSource.options).toMatchObject({
        url: context.database.url,
      });
      await expect(
        notes().save(notes().create({ ownerId: alice.userId, body: 'x' })),
      ).rejects.toThrow(KeyUnavailableError);
    });

    it('close() closes the app, drops the database and zeroes every key it handed out', async () => {
      const own = await createEncryptionTestingModule({ entities: [KitNote] });
      const user = await createUserWithKeys(own, { versions: 2 });
      const serverKeys = [
        own.keys.vaultKey,
        own.keys.serverBlindIndexKey,
        own.keys.pepper,
        own.keys.argon2OutputKey,
      ];
      const userKeys = [...user.keys.values()];
      for (const key of [...serverKeys, ...userKeys])
        expect(key.some((byte) => byte !== 0)).toBe(true);
      const serverUrl = process.env.DATABASE_URL as string;
      expect(await databaseExists(serverUrl, own.database.name)).toBe(true);

      await own.close();

      expect(own.keys.isZeroed).toBe(true);
      for (const key of [...serverKeys, ...userKeys])
        expect(key.every((byte) => byte === 0)).toBe(true);
      expect(await databaseExists(serverUrl, own.database.name)).toBe(false);
      expect(own.dataSource.isInitialized).toBe(false);
      await expect(createUserWithKeys(own)).rejects.toThrow(
        /the context is closed/,
      );
    });

    it("runs the app's migrations instead of synchronize when given", async () => {
      class CreateKitNotes1700000000000 {
        async up(runner: { query(sql: string): Promise<unknown> }) {
          await runner.query(
            'CREATE TABLE kit_notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), owner_id uuid NOT NULL, body_text bytea, title bytea, label text)',
          );
        }
        async down() {}
      }
      const migrated = await createEncryptionTestingModule({
        entities: [KitNote],
        migrations: [CreateKitNotes1700000000000],
      });
      try {
        const user = await createUserWithKeys(migrated);
        const note = await withUserKeys(user, () =>
          migrated.dataSource
            .getRepository(KitNote)
            .save({ ownerId: user.userId, body: 'migrated' }),
        );
        await assertStoredAsCiphertext(migrated.dataSource, KitNote, note.id, {
          plaintexts: ['migrated'],
        });
        const [{ count }] = await migrated.dataSource.query<
          { count: string }[]
        >('SELECT count(*) FROM migrations');
        expect(count).toBe('1');
      } finally {
        await migrated.close();
      }
    });
  });

  describe('createUserWithKeys', () => {
    it('opens a live vault session holding the keys, as a login does', async () => {
      const before = opened.length;
      const bob = await createUserWithKeys(context, {
        versions: 3,
        activeVersion: 2,
      });
      expect(
        opened.slice(before).map((e) => [e.occasion, e.session.userId]),
      ).toEqual([['opened', bob.userId]]);
      const keyring = await context.vault.unlock(bob.session);
      try {
        expect(keyring.versions.sort()).toEqual([1, 2, 3]);
        expect(keyring.activeVersion).toBe(2);
        expect(keyring.key(3)?.equals(bob.keys.get(3) as Buffer)).toBe(true);
      } finally {
        keyring.zero();
      }
    });

    it("writes the app's rows in one transaction before the session opens", async () => {
      const userId = randomUUID();
      const carol = await createUserWithKeys(context, {
        userId,
        versions: 2,
        persist: async (user, manager) => {
          await manager.insert(KitUser, {
            id: user.userId,
            keyVersions: user.keys.size,
          });
        },
      });
      expect(carol.userId).toBe(userId);
      expect(
        await context.dataSource
          .getRepository(KitUser)
          .findOneBy({ id: userId }),
      ).toEqual({ id: userId, keyVersions: 2 });

      const failed = createUserWithKeys(context, {
        persist: async (user, manager) => {
          await manager.insert(KitUser, { id: user.userId, keyVersions: 1 });
          throw new Error('the app refused the user');
        },
      });
      await expect(failed).rejects.toThrow('the app refused the user');
      expect(await context.dataSource.getRepository(KitUser).count()).toBe(1);
    });

    it.each([
      [{ versions: 0 }, /versions must be a whole number/],
      [{ versions: 1.5 }, /versions must be a whole number/],
      [
        { versions: 2, activeVersion: 3 },
        /activeVersion must be one of the versions/,
      ],
    ])('refuses %j', async (options, message) => {
      await expect(createUserWithKeys(context, options)).rejects.toThrow(
        message,
      );
    });

    it('a revoked session no longer unlocks', async () => {
      const dave = await createUserWithKeys(context);
      await context.vault.revoke(dave.session.sessionId);
      await expect(context.vault.unlock(dave.session)).rejects.toThrow(
        SessionLockedError,
      );
    });
  });

  describe('withUserKeys', () => {
    it('makes the keys current for the work, in a fresh keyring zeroed afterwards', async () => {
      const seen = await withUserKeys(alice, () => KeyContext.require());
      expect(seen.userId).toBe(alice.userId);
      expect(seen.isZeroed).toBe(true);
      expect(KeyContext.current()).toBeUndefined();
    });

    it('refuses keys without the active version, and runs nothing', async () => {
      const work = jest.fn();
      await expect(
        withUserKeys({ ...alice, activeVersion: 7 }, work),
      ).rejects.toThrow("the user's keys hold no active version 7");
      expect(work).not.toHaveBeenCalled();
    });

    it('copies a Keyring given: the caller keeps its own', async () => {
      const mine = alice.keyring();
      try {
        const note = await withUserKeys(mine, () =>
          notes().save(notes().create({ ownerId: alice.userId, body: 'kept' })),
        );
        expect(mine.isZeroed).toBe(false);
        const loaded = await withUserKeys(mine, () =>
          notes().findOneByOrFail({ id: note.id }),
        );
        expect(loaded.body).toBe('kept');
      } finally {
        mine.zero();
      }
    });
  });

  describe('assertStoredAsCiphertext', () => {
    it('passes a row the transformer wrote, and resolves with the stored row', async () => {
      const note = await write(alice, {
        body: 'Grace Hopper',
        title: null,
        label: 'work',
      });
      const row = await assertStoredAsCiphertext(
        context.dataSource,
        KitNote,
        note.id,
        {
          keyVersion: 1,
          plaintexts: ['Grace Hopper'],
        },
      );
      expect(row).toMatchObject({ id: note.id, title: null, label: 'work' });
      expect(Buffer.isBuffer(row.body_text)).toBe(true);
    });

    it('fails naming the table and column, never the plaintext', async () => {
      const note = await write(alice, {
        body: 'Grace Hopper',
        label: 'Grace Hopper',
      });
      await context.dataSource.query(
        "UPDATE kit_notes SET title = convert_to('Grace Hopper, rear admiral', 'UTF8') WHERE id = $1",
        [note.id],
      );
      const error = await assertStoredAsCiphertext(
        context.dataSource,
        KitNote,
        note.id,
        {
          keyVersion: 2,
          plaintexts: ['Grace Hopper'],
        },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoredValueAssertionError);
      const { message } = error as Error;
      expect(message).toMatch(/^kit_notes: /);
      expect(message).toContain(
        'body_text is sealed under key version 1, expected 2',
      );
      expect(message).toContain('title does not begin with an envelope header');
      expect(message).toContain('label holds plaintexts[0] (UTF-8)');
      expect(message).toContain('title holds plaintexts[0] (UTF-8)');
      expect(message).not.toMatch(/Grace|Hopper/);
    });

    it('checks only the columns named, and refuses a column that is not encrypted', async () => {
      const note = await write(alice, { body: 'Ada' });
      await context.dataSource.query(
        "UPDATE kit_notes SET title = '\\x01'::bytea WHERE id = $1",
        [note.id],
      );
      await expect(
        assertStoredAsCiphertext(context.dataSource, KitNote, note.id, {
          columns: ['body'],
        }),
      ).resolves.toBeDefined();
      await expect(
        assertStoredAsCiphertext(context.dataSource, KitNote, note.id, {
          columns: ['label'],
        }),
      ).rejects.toThrow('kit_notes: not an @EncryptedColumn of KitNote: label');
      await expect(
        assertStoredAsCiphertext(context.dataSource, KitNote, note.id, {
          columns: [],
        }),
      ).rejects.toThrow(/columns is empty/);
    });

    it('refuses a missing row, a missing id and an entity without encrypted columns', async () => {
      await expect(
        assertStoredAsCiphertext(context.dataSource, KitNote, randomUUID()),
      ).rejects.toThrow('kit_notes: no row with that primary key');
      await expect(
        assertStoredAsCiphertext(context.dataSource, KitNote, undefined),
      ).rejects.toThrow('kit_notes: id must give the primary key (id)');
      await expect(
        assertStoredAsCiphertext(context.dataSource, KitUser, randomUUID()),
      ).rejects.toThrow('kit_users: KitUser has no @EncryptedColumn');
    });
  });

  describe('assertStoredAsPlaintext', () => {
    it('passes values that are not envelopes, and fails on ciphertext', async () => {
      const note = await write(alice, { body: 'sealed' });
      await context.dataSource.query(
        "UPDATE kit_notes SET title = '\\x00'::bytea || convert_to('Legacy title', 'UTF8') WHERE id = $1",
        [note.id],
      );
      await expect(
        assertStoredAsPlaintext(context.dataSource, KitNote, note.id, {
          columns: ['title'],
          plaintexts: ['Legacy title'],
        }),
      ).resolves.toBeDefined();
      await expect(
        assertStoredAsPlaintext(context.dataSource, KitNote, note.id, {
          plaintexts: ['Legacy title', 'sealed'],
        }),
      ).rejects.toThrow(
        'kit_notes: body_text holds an envelope (key version 1), expected plaintext; plaintexts[1] is in none of body_text, title',
      );
    });
  });
});

describe('PostgreSQL for tests', () => {
  it('startTestPostgres uses the DATABASE_URL server when set (stop() leaves it running)', async () => {
    const server = await startTestPostgres();
    expect(server).toMatchObject({
      serverUrl: process.env.DATABASE_URL,
      embedded: false,
    });
    const database = await server.createDatabase();
    await server.stop();
    expect(await databaseExists(server.serverUrl, database.name)).toBe(true);
    await database.drop();
    expect(await databaseExists(server.serverUrl, database.name)).toBe(false);
  });

  it("database: 'embedded' starts a server of the module's own, which close() stops", async () => {
    const own = await createEncryptionTestingModule({
      entities: [KitNote],
      database: 'embedded',
    });
    const { port } = new URL(own.database.url);
    expect(own.database.url).not.toContain(
      new URL(process.env.DATABASE_URL as string).host,
    );
    const user = await createUserWithKeys(own);
    const note = await withUserKeys(user, () =>
      own.dataSource
        .getRepository(KitNote)
        .save({ ownerId: user.userId, body: 'embedded' }),
    );
    await assertStoredAsCiphertext(own.dataSource, KitNote, note.id, {
      plaintexts: ['embedded'],
    });
    await own.close();
    const probe = new DataSource({
      type: 'postgres',
      url: own.database.url,
      connectTimeoutMS: 2000,
    });
    await expect(probe.initialize()).rejects.toThrow();
    expect(Number(port)).toBeGreaterThan(0);
  }, 120_000);

  it('createTestDatabase refuses to guess a server', async () => {
    const given = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      await expect(createTestDatabase()).rejects.toThrow(
        /no server URL and DATABASE_URL is not set/,
      );
    } finally {
      process.env.DATABASE_URL = given;
    }
  });
});
