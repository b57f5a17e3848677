import { randomBytes, randomUUID } from 'node:crypto';
import { Test, TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  Column,
  DataSource,
  Entity,
  getMetadataArgsStorage,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import {
  AeadAlgorithm,
  readEnvelopeHeader,
  computeBlindIndex,
  generateDataKey,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import {
  BlindIndex,
  BlindIndexes,
  EncryptedColumn,
  RotationInProgressError,
  UnboundEncryptedColumnError,
  EncryptedColumnsModule,
  EncryptedColumnsOptions,
  installEncryptedColumns,
  EncryptedWriteOutsideTransactionError,
  KeyVersionWriteGuard,
} from '@vault-pii/nest-encryption';
import {
  createTestDatabase,
  TestDatabase,
  throwAwayKeys,
  UserKeys,
  withUserKeys,
} from '@vault-pii/nest-encryption/testing';

import { lowerCaseTrimmed } from '../support/lower-case-trimmed';

@Entity({ name: 'members' })
class Member {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @EncryptedColumn()
  fullName: string | null;

  @EncryptedColumn()
  loginEmail: string | null;

  @BlindIndex({
    source: 'loginEmail',
    normalize: lowerCaseTrimmed,
    keyedBy: 'server',
    unique: true,
  })
  loginEmailIndex: Buffer | null;
}

/** Which owner key versions exist, as `user_data_keys` holds them in the app. */
@Entity({ name: 'member_keys' })
class MemberKey {
  @PrimaryColumn({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @PrimaryColumn({ name: 'key_version', type: 'int' })
  keyVersion: number;
}

const LIVE_KEY_SQL =
  'SELECT 1 FROM member_keys WHERE owner_id = $1 AND key_version = $2 FOR KEY SHARE';

/**
 * An app of two modules only: TypeORM and the encrypted columns (no vault, no key-rotation
 * module), which is why this file builds its apps itself rather than with the kit's testing module.
 */
async function startApp(
  url: string,
  options: EncryptedColumnsOptions,
  synchronize = false,
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      // A throw-away database: synchronize is acceptable here and only here.
      TypeOrmModule.forRoot({
        type: 'postgres',
        url,
        entities: [Member, MemberKey],
        synchronize,
      }),
      EncryptedColumnsModule.forRoot(options),
    ],
  }).compile();
  return moduleRef.init();
}

/** Runs `work` with a fresh keyring of `owner` whose active version is `active`. */
const as = <T>(owner: UserKeys, active: number, work: () => Promise<T>) =>
  withUserKeys({ ...owner, activeVersion: active }, work);

describe('EncryptedColumnsModule on real PostgreSQL', () => {
  let database: TestDatabase;
  let appA: TestingModule;
  let appB: TestingModule;
  const serverKeysA = throwAwayKeys();
  const serverKeysB = throwAwayKeys();
  const keyA = serverKeysA.serverBlindIndexKey;
  const keyB = serverKeysB.serverBlindIndexKey;
  const owner: UserKeys = {
    userId: randomUUID(),
    keys: new Map([
      [1, generateDataKey()],
      [2, generateDataKey()],
    ]),
    activeVersion: 1,
  };
  const dataSourceOf = (app: TestingModule) => app.get(DataSource);
  const members = (app: TestingModule) =>
    dataSourceOf(app).getRepository(Member);
  const rawRow = async (id: string) =>
    (
      await dataSourceOf(appA).query<Record<string, Buffer>[]>(
        'SELECT "fullName", "loginEmailIndex" FROM members WHERE id = $1',
        [id],
      )
    )[0];
  const countRows = async () =>
    Number(
      (
        await dataSourceOf(appA).query<{ count: string }[]>(
          'SELECT count(*) FROM members',
        )
      )[0].count,
    );
  /** Saves a member of `owner` through `app`, sealing under key version `version`. */
  const write = (app: TestingModule, loginEmail: string, version = 1) =>
    as(owner, version, () =>
      members(app).save(
        members(app).create({
          ownerId: owner.userId,
          fullName: 'Grace Hopper',
          loginEmail,
        }),
      ),
    );

  beforeAll(async () => {
    database = await createTestDatabase();
    appA = await startApp(
      database.url,
      {
        algorithm: AeadAlgorithm.XChaCha20Poly1305,
        serverBlindIndexKey: keyA,
        liveKeySql: LIVE_KEY_SQL,
      },
      true,
    );
    appB = await startApp(database.url, {
      algorithm: AeadAlgorithm.Aes256Gcm,
      serverBlindIndexKey: keyB,
      liveKeySql: LIVE_KEY_SQL,
    });
    // Version 1 exists; version 2 is one a rotation has destroyed.
    await dataSourceOf(appA)
      .getRepository(MemberKey)
      .insert({ ownerId: owner.userId, keyVersion: 1 });
  });
  afterAll(async () => {
    await appA?.close();
    await appB?.close();
    await database?.drop();
    serverKeysA.zero();
    serverKeysB.zero();
    zeroBuffer(...owner.keys.values());
  });

  describe('two apps in one process, each with its own options', () => {
    it('each writes with its own algorithm and server blind-index key, whichever started last', async () => {
      const writes = [
        { app: appA, key: keyA, algorithm: AeadAlgorithm.XChaCha20Poly1305 },
        { app: appB, key: keyB, algorithm: AeadAlgorithm.Aes256Gcm },
        { app: appA, key: keyA, algorithm: AeadAlgorithm.XChaCha20Poly1305 },
      ];
      for (const [i, { app, key, algorithm }] of writes.entries()) {
        const email = `Grace.${i}@Example.org`;
        const saved = await write(app, email);
        const raw = await rawRow(saved.id);
        expect(readEnvelopeHeader(raw.fullName).algorithm).toBe(algorithm);
        expect(raw.loginEmailIndex).toEqual(
          computeBlindIndex(key, lowerCaseTrimmed(email)),
        );
        expect(
          app.get(BlindIndexes).for(Member, 'loginEmailIndex', email),
        ).toEqual([raw.loginEmailIndex]);
      }
    });

    it('the same login email gets a different index per app, and each app finds only its own row', async () => {
      const email = 'ada@example.org';
      const byA = await write(appA, email);
      const byB = await write(appB, email); // no unique conflict: another key
      for (const [app, mine] of [
        [appA, byA],
        [appB, byB],
      ] as const) {
        const [index] = app
          .get(BlindIndexes)
          .for(Member, 'loginEmailIndex', email);
        const found = await members(app).find({
          where: { loginEmailIndex: index },
          select: { id: true },
        });
        expect(found.map((member) => member.id)).toEqual([mine.id]);
      }
      // Either app reads both rows: the envelope names its algorithm.
      for (const app of [appA, appB]) {
        const loaded = await as(owner, 1, () =>
          members(app).findBy({ ownerId: owner.userId }),
        );
        expect(loaded.every((m) => m.fullName === 'Grace Hopper')).toBe(true);
      }
    });

    it("binds each DataSource's own transformers; the decorator's, unbound, refuses with a clear error", () => {
      const transformerOf = (app: TestingModule) =>
        dataSourceOf(app)
          .getMetadata(Member)
          .findColumnWithPropertyName('fullName')?.transformer;
      expect(transformerOf(appA)).not.toBe(transformerOf(appB));
      const decorated = getMetadataArgsStorage().columns.find(
        (column) =>
          column.target === Member && column.propertyName === 'fullName',
      )?.options.transformer as { to(value: unknown): unknown };
      expect(decorated).not.toBe(transformerOf(appA));
      expect(() => decorated.to('x')).toThrow(UnboundEncryptedColumnError);
    });
  });

  describe('the key-version write guard, with no key-rotation module loaded', () => {
    it('is registered on the DataSource by the module', () => {
      for (const app of [appA, appB])
        expect(
          dataSourceOf(app).subscribers.filter(
            (subscriber) => subscriber instanceof KeyVersionWriteGuard,
          ),
        ).toHaveLength(1);
    });

    it('commits a write under an existing key version, and refuses one under a destroyed version: nothing is committed', async () => {
      await expect(write(appA, 'live@example.org', 1)).resolves.toBeDefined();
      const before = await countRows();
      await expect(write(appA, 'retired@example.org', 2)).rejects.toThrow(
        RotationInProgressError,
      );
      await expect(write(appB, 'retired@example.org', 2)).rejects.toThrow(
        RotationInProgressError,
      );
      expect(await countRows()).toBe(before);
    });

    it('refuses an encrypted write outside a transaction (it could not hold the key lock)', async () => {
      await expect(
        as(owner, 1, () =>
          members(appA).insert({ ownerId: owner.userId, fullName: 'No lock' }),
        ),
      ).rejects.toThrow(EncryptedWriteOutsideTransactionError);
    });
  });

  describe('a DataSource without the module, and bad options', () => {
    let bare: DataSource;
    beforeAll(async () => {
      bare = await new DataSource({
        type: 'postgres',
        url: database.url,
        entities: [Member, MemberKey],
      }).initialize();
    });
    afterAll(() => bare?.destroy());

    it('cannot write or read encrypted columns: UnboundEncryptedColumnError', async () => {
      const saved = await write(appA, 'bound@example.org');
      await expect(
        as(owner, 1, () =>
          bare
            .getRepository(Member)
            .save({ ownerId: owner.userId, fullName: 'Unbound' }),
        ),
      ).rejects.toThrow(UnboundEncryptedColumnError);
      await expect(
        as(owner, 1, () =>
          bare.getRepository(Member).findOneBy({ id: saved.id }),
        ),
      ).rejects.toThrow(UnboundEncryptedColumnError);
    });

    it.each<[string, Partial<EncryptedColumnsOptions>, RegExp]>([
      [
        'a server-keyed index without a key',
        {},
        /Member.loginEmailIndex is a server-keyed @BlindIndex, but no serverBlindIndexKey was given/,
      ],
      [
        'a short server key',
        { serverBlindIndexKey: randomBytes(16) },
        /serverBlindIndexKey must be a Buffer of 32 bytes/,
      ],
      [
        'a live-key query without its parameters',
        { serverBlindIndexKey: keyA, liveKeySql: 'SELECT 1' },
        /liveKeySql must be a query over \$1 \(owner id\) and \$2 \(key version\)/,
      ],
    ])('refuses at start-up: %s', (_name, options, message) => {
      expect(() =>
        installEncryptedColumns(bare, { liveKeySql: LIVE_KEY_SQL, ...options }),
      ).toThrow(message);
      expect(
        bare.subscribers.some((s) => s instanceof KeyVersionWriteGuard),
      ).toBe(false);
    });

    it('refuses to install twice on one DataSource', () => {
      expect(() =>
        installEncryptedColumns(dataSourceOf(appA), {
          serverBlindIndexKey: keyB,
          liveKeySql: LIVE_KEY_SQL,
        }),
      ).toThrow(/already installed on this DataSource/);
    });
  });
});
