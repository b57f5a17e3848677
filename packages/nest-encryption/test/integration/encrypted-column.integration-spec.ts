import { randomUUID } from 'node:crypto';
import {
  Column,
  DataSource,
  Entity,
  In,
  PrimaryGeneratedColumn,
} from 'typeorm';
import {
  AeadAlgorithm,
  readEnvelopeHeader,
} from '@vault-pii/nest-encryption/crypto';
import {
  BlindIndex,
  BlindIndexes,
  EncryptedColumn,
  DataIntegrityError,
  EncryptedColumnQueryError,
  KeyUnavailableError,
  installEncryptedColumns,
} from '@vault-pii/nest-encryption';
import {
  assertStoredAsCiphertext,
  createEncryptionTestingModule,
  createUserWithKeys,
  EncryptionTestingContext,
  KEYS_NEVER_DESTROYED_SQL,
  TestUser,
  UserKeys,
  withUserKeys,
} from '@vault-pii/nest-encryption/testing';

import { lowerCaseTrimmed } from '../support/lower-case-trimmed';

/** Adding an encrypted entity takes decorators only: this one is declared nowhere else. */
@Entity({ name: 'people' })
class Person {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @EncryptedColumn()
  fullName: string | null;

  @EncryptedColumn()
  nickname: string | null;

  @EncryptedColumn()
  luckyNumber: number | null;

  @EncryptedColumn()
  verified: boolean | null;

  @EncryptedColumn()
  dateOfBirth: Date | null;

  @EncryptedColumn()
  address: { street: string; city: string; lines?: string[] } | null;

  @EncryptedColumn()
  email: string | null;

  @BlindIndex({ source: 'email', normalize: lowerCaseTrimmed })
  emailIndex: Buffer | null;

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

/** A fresh keyring per call (the context zeroes it afterwards), as each request gets one. */
const as = <T>(user: UserKeys, work: () => Promise<T>): Promise<T> =>
  withUserKeys(user, work);

describe('@EncryptedColumn and @BlindIndex on real PostgreSQL', () => {
  let context: EncryptionTestingContext;
  /** The one the tests use: the testing module's, or for one test `gcmSource` (the same database). */
  let dataSource: DataSource;
  let gcmSource: DataSource;
  let blindIndexes: BlindIndexes;
  const blindIndexesFor: BlindIndexes['for'] = (...args) =>
    blindIndexes.for(...args);
  const people = () => dataSource.getRepository(Person);
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    context = await createEncryptionTestingModule({ entities: [Person] });
    dataSource = context.dataSource;
    blindIndexes = context.moduleRef.get(BlindIndexes);
    gcmSource = await new DataSource({
      type: 'postgres',
      url: context.database.url,
      entities: [Person],
    }).initialize();
    installEncryptedColumns(gcmSource, {
      algorithm: AeadAlgorithm.Aes256Gcm,
      serverBlindIndexKey: context.keys.serverBlindIndexKey,
      liveKeySql: KEYS_NEVER_DESTROYED_SQL,
    });
    alice = await createUserWithKeys(context);
    bob = await createUserWithKeys(context);
  });
  afterAll(async () => {
    await gcmSource?.destroy();
    await context?.close();
  });

  async function rawRow(
    id: string,
  ): Promise<Record<string, Buffer | string | null>> {
    const [row] = await dataSource.query<
      Record<string, Buffer | string | null>[]
    >('SELECT * FROM people WHERE id = $1', [id]);
    return row;
  }

  async function insert(
    owner: UserKeys,
    values: Partial<Person>,
  ): Promise<Person> {
    return as(owner, () =>
      people().save(people().create({ ownerId: owner.userId, ...values })),
    );
  }

  const sample = () => ({
    fullName: 'Ada Lovelace-Byron ☃ 李',
    nickname: '',
    luckyNumber: -1234.5678,
    verified: true,
    dateOfBirth: new Date('1815-12-10T00:00:00.000Z'),
    address: {
      street: '12 St James’s Square',
      city: 'London',
      lines: ['Flat 1', 'Floor 2'],
    },
    email: 'Ada@Example.ORG',
    loginEmail: `ada.login.${randomUUID()}@example.org`,
  });

  it('round-trips every value kind, and null stays NULL', async () => {
    const values = sample();
    const saved = await insert(alice, values);
    const loaded = await as(alice, () =>
      people().findOneByOrFail({ id: saved.id }),
    );
    expect(loaded).toMatchObject(values);
    expect(loaded.dateOfBirth).toBeInstanceOf(Date);

    const empty = await insert(alice, {
      fullName: null,
      luckyNumber: null,
      address: null,
    });
    const raw = await rawRow(empty.id);
    expect(raw.full_name ?? raw.fullName).toBeNull();
    const loadedEmpty = await as(alice, () =>
      people().findOneByOrFail({ id: empty.id }),
    );
    expect(loadedEmpty.fullName).toBeNull();
    expect(loadedEmpty.address).toBeNull();
  });

  it('stores only ciphertext: no plaintext in any column, a versioned envelope in each', async () => {
    const saved = await insert(alice, sample());
    const raw = await assertStoredAsCiphertext(dataSource, Person, saved.id, {
      keyVersion: 1,
      plaintexts: [
        'Ada',
        'Lovelace',
        'London',
        'Square',
        'example',
        'ada.login',
        '1815',
      ],
    });
    expect(readEnvelopeHeader(raw.fullName as Buffer)).toEqual({
      formatVersion: 1,
      algorithm: 1,
      keyVersion: 1,
    });
  });

  it('encrypts the same value differently each time (random nonces)', async () => {
    const one = await insert(alice, { fullName: 'Same Name' });
    const two = await insert(alice, { fullName: 'Same Name' });
    expect((await rawRow(one.id)).fullName).not.toEqual(
      (await rawRow(two.id)).fullName,
    );
  });

  it('cannot be read with another user’s keys', async () => {
    const saved = await insert(alice, sample());
    await expect(
      as(bob, () => people().findOneByOrFail({ id: saved.id })),
    ).rejects.toThrow(DataIntegrityError);
  });

  it('cannot be read or written without keys (KeyUnavailableError, never ciphertext or null)', async () => {
    const saved = await insert(alice, sample());
    await expect(people().findOneByOrFail({ id: saved.id })).rejects.toThrow(
      KeyUnavailableError,
    );
    await expect(
      people().save(people().create({ ownerId: alice.userId, fullName: 'x' })),
    ).rejects.toThrow(KeyUnavailableError);
  });

  it('detects a byte flipped in the database', async () => {
    const saved = await insert(alice, sample());
    await dataSource.query(
      `UPDATE people SET "fullName" = set_byte("fullName", length("fullName") - 3, get_byte("fullName", length("fullName") - 3) # 1) WHERE id = $1`,
      [saved.id],
    );
    const error = await as(alice, () =>
      people().findOneByOrFail({ id: saved.id }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataIntegrityError);
    expect(error).toMatchObject({
      code: 'data_integrity_error',
      table: 'people',
      column: 'fullName',
    });
    expect(JSON.stringify(error)).not.toContain('Ada');
  });

  it('detects a truncated ciphertext and a foreign blob', async () => {
    const saved = await insert(alice, sample());
    await dataSource.query(
      `UPDATE people SET "nickname" = substring("fullName" from 1 for 20), "email" = '\\x0102'::bytea WHERE id = $1`,
      [saved.id],
    );
    await expect(
      as(alice, () => people().findOneByOrFail({ id: saved.id })),
    ).rejects.toThrow(DataIntegrityError);
  });

  it('rejects a ciphertext copied to another column of the same row', async () => {
    const saved = await insert(alice, sample());
    await dataSource.query(
      `UPDATE people SET "nickname" = "fullName" WHERE id = $1`,
      [saved.id],
    );
    await expect(
      as(alice, () => people().findOneByOrFail({ id: saved.id })),
    ).rejects.toThrow(DataIntegrityError);
  });

  it('rejects a ciphertext copied into another owner’s row', async () => {
    const victim = await insert(alice, sample());
    const attacker = await insert(bob, { fullName: 'Bob' });
    // Even if Bob's keys were Alice's keys, the AAD binds the owner: simulate with a shared DEK.
    const shared: UserKeys = { ...bob, keys: alice.keys };
    await dataSource.query(
      `UPDATE people SET "fullName" = (SELECT "fullName" FROM people WHERE id = $1) WHERE id = $2`,
      [victim.id, attacker.id],
    );
    await expect(
      as(bob, () => people().findOneByOrFail({ id: attacker.id })),
    ).rejects.toThrow(DataIntegrityError);
    await expect(
      as(shared, () => people().findOneByOrFail({ id: attacker.id })),
    ).rejects.toThrow(DataIntegrityError);
  });

  describe('where conditions on encrypted columns fail loudly', () => {
    it.each<[string, () => Promise<unknown>]>([
      ['findOneBy', () => people().findOneBy({ fullName: 'Ada' })],
      [
        'find with In()',
        () => people().find({ where: { fullName: In(['Ada']) } }),
      ],
      ['count', () => people().countBy({ email: 'ada@example.org' })],
      [
        'query builder where object',
        () =>
          people()
            .createQueryBuilder()
            .update()
            .set({ verified: false })
            .where({ fullName: 'Ada' })
            .execute(),
      ],
      ['delete by criteria', () => people().delete({ fullName: 'Ada' })],
    ])('%s', async (_name, query) => {
      await expect(as(alice, query)).rejects.toThrow(EncryptedColumnQueryError);
    });
  });

  describe('blind indexes', () => {
    it('finds a row by its owner-keyed index, after normalisation, and never another user’s', async () => {
      const mine = await insert(alice, { email: 'Grace@Example.org' });
      const theirs = await insert(bob, { email: 'grace@example.org' });
      const found = await as(alice, () =>
        people().findBy({
          emailIndex: In(
            blindIndexesFor(Person, 'emailIndex', '  GRACE@example.ORG '),
          ),
        }),
      );
      expect(found.map((p) => p.id)).toEqual([mine.id]);
      expect((await rawRow(mine.id)).emailIndex).not.toEqual(
        (await rawRow(theirs.id)).emailIndex,
      );
      const miss = await as(alice, () =>
        people().findBy({
          emailIndex: In(
            blindIndexesFor(Person, 'emailIndex', 'nobody@example.org'),
          ),
        }),
      );
      expect(miss).toEqual([]);
    });

    it('follows updates and clears with the source', async () => {
      const saved = await insert(alice, { email: 'old@example.org' });
      await as(alice, async () => {
        const entity = await people().findOneByOrFail({ id: saved.id });
        entity.email = 'new@example.org';
        await people().save(entity);
      });
      const byNew = await as(alice, () =>
        people().findBy({
          emailIndex: In(
            blindIndexesFor(Person, 'emailIndex', 'new@example.org'),
          ),
        }),
      );
      const byOld = await as(alice, () =>
        people().findBy({
          emailIndex: In(
            blindIndexesFor(Person, 'emailIndex', 'old@example.org'),
          ),
        }),
      );
      expect(byNew.map((p) => p.id)).toEqual([saved.id]);
      expect(byOld).toEqual([]);

      await as(alice, async () => {
        const entity = await people().findOneByOrFail({ id: saved.id });
        entity.email = null;
        await people().save(entity);
      });
      expect((await rawRow(saved.id)).emailIndex).toBeNull();
    });

    it('server-keyed index is unique across users (the login email)', async () => {
      await insert(alice, { loginEmail: 'unique@example.org' });
      await expect(
        insert(bob, { loginEmail: ' UNIQUE@example.org' }),
      ).rejects.toThrow(/duplicate key|unique/i);
      const [index] = blindIndexesFor(
        Person,
        'loginEmailIndex',
        'unique@example.org',
      );
      const found = await as(alice, () =>
        people().findBy({ loginEmailIndex: index }),
      );
      expect(found).toHaveLength(1);
    });
  });

  describe('key versions', () => {
    it('reads old versions, writes the active one, and searches across both', async () => {
      const carolV1 = await createUserWithKeys(context, {
        versions: 2,
        activeVersion: 1,
      });
      const old = await insert(carolV1, {
        fullName: 'Carol v1',
        email: 'carol@example.org',
      });
      const carol: UserKeys = { ...carolV1, activeVersion: 2 };
      const fresh = await insert(carol, {
        fullName: 'Carol v2',
        email: 'carol@example.org',
      });

      expect(
        readEnvelopeHeader((await rawRow(old.id)).fullName as Buffer)
          .keyVersion,
      ).toBe(1);
      expect(
        readEnvelopeHeader((await rawRow(fresh.id)).fullName as Buffer)
          .keyVersion,
      ).toBe(2);
      const both = await as(carol, () =>
        people().findBy({ ownerId: carol.userId }),
      );
      expect(both.map((p) => p.fullName).sort()).toEqual([
        'Carol v1',
        'Carol v2',
      ]);
      const byEmail = await as(carol, () =>
        people().findBy({
          emailIndex: In(
            blindIndexesFor(Person, 'emailIndex', 'carol@example.org'),
          ),
        }),
      );
      expect(byEmail).toHaveLength(2);

      // A destroyed version (dropped from the keyring) is an integrity failure, not a silent null.
      const destroyed: UserKeys = {
        ...carol,
        keys: new Map([[2, carol.keys.get(2) as Buffer]]),
      };
      await expect(
        as(destroyed, () => people().findOneByOrFail({ id: old.id })),
      ).rejects.toThrow(DataIntegrityError);
    });
  });

  it('writes AES-256-GCM when configured, and reads both algorithms', async () => {
    const xchacha = await insert(alice, { fullName: 'XChaCha row' });
    dataSource = gcmSource; // installed with AES-256-GCM, over the same database
    try {
      const gcm = await insert(alice, { fullName: 'GCM row' });
      expect(
        readEnvelopeHeader((await rawRow(gcm.id)).fullName as Buffer).algorithm,
      ).toBe(AeadAlgorithm.Aes256Gcm);
      const loaded = await as(alice, () =>
        people().findBy({ id: In([xchacha.id, gcm.id]) }),
      );
      expect(loaded.map((p) => p.fullName).sort()).toEqual([
        'GCM row',
        'XChaCha row',
      ]);
    } finally {
      dataSource = context.dataSource;
    }
  });
});
