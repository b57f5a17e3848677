import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import {
  adoptingEntitiesOf,
  AeadAlgorithm,
  decodeAdoptedPlaintext,
  endPlaintextAdoptionSql,
  installEncryptedColumns,
  isAdoptedPlaintext,
  KeyContext,
  Keyring,
  KeyUnavailableError,
  plaintextAdoptionSql,
} from '@vault-pii/nest-encryption';
import { runAdoptionCommand } from '../../src/cli/adoption-command';
import { adoptingColumnNames } from '../../src/encrypted-column/install-encrypted-columns';
import {
  createTestDatabase,
  TestDatabase,
  withPgClient,
} from '@vault-pii/nest-encryption/testing';
import { LegacyContact } from './adoption-entities';
import { recordingIo } from './adoption-cli-io';

/**
 * A table that held plaintext adopted end to end by the app's own writes (the background pass has
 * its own spec, adoption-pass.integration-spec.ts): the migration converts it, reads never break
 * (with or without keys), writes seal under the owner's keys, the status command counts what is
 * left, and the closing migration refuses while anything is.
 */
const OWNER_A: string = randomUUID();
const OWNER_B: string = randomUUID();
const KEYS = new Map<string, Buffer>([
  [OWNER_A, randomBytes(32)],
  [OWNER_B, randomBytes(32)],
]);

interface SeedRow {
  id: number;
  ownerId: string | null;
  note: string | null;
  birthday: string | null;
  city: string;
}

const SEED: SeedRow[] = [
  {
    id: 1,
    ownerId: OWNER_A,
    note: 'Zoë ☃ 李',
    birthday: '1815-12-10',
    city: 'London',
  },
  { id: 2, ownerId: OWNER_A, note: '', birthday: null, city: 'Paris' },
  {
    id: 3,
    ownerId: OWNER_B,
    note: 'B private',
    birthday: '1990-05-17',
    city: 'Rome',
  },
  { id: 4, ownerId: OWNER_B, note: null, birthday: '2000-02-29', city: 'Oslo' },
  { id: 5, ownerId: null, note: 'nobody’s', birthday: null, city: 'Bern' },
];

const asRead = (row: SeedRow) => ({
  id: row.id,
  ownerId: row.ownerId,
  note: row.note,
  birthday:
    row.birthday === null ? null : new Date(`${row.birthday}T00:00:00Z`),
  city: row.city,
});

/** Runs `work` in a request-like scope with `owner`'s keyring attached, as the auth guard does. */
function asOwner<T>(owner: string, work: () => Promise<T>): Promise<T> {
  return KeyContext.runInScope(async () => {
    const keyring = new Keyring(
      owner,
      new Map([[1, Buffer.from(KEYS.get(owner) as Buffer)]]),
      1,
    );
    KeyContext.attach(keyring);
    try {
      return await work();
    } finally {
      keyring.zero();
    }
  });
}

const DATA_SOURCE_MODULE = join(__dirname, 'adoption-data-source.ts');

async function status(...options: string[]) {
  const { io, stdout, stderr } = recordingIo();
  const exitCode = await runAdoptionCommand(
    ['status', '-d', DATA_SOURCE_MODULE, '--chunk-rows', '2', ...options],
    io,
  );
  return { exitCode, stdout: stdout(), stderr: stderr() };
}

async function rawRows(url: string) {
  return withPgClient(url, async (client) => {
    const { rows } = await client.query<{
      id: number;
      note: Buffer | null;
      birthday: Buffer | null;
    }>('SELECT id, note, birthday FROM legacy_contacts ORDER BY id');
    return rows;
  });
}

describe('plaintext adoption of a legacy table (PostgreSQL)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase();
    process.env.ADOPTION_TEST_DATABASE_URL = database.url;
    await withPgClient(database.url, async (client) => {
      await client.query(
        'CREATE TABLE legacy_contacts (id int PRIMARY KEY, owner_id uuid, note text, birthday date, city text)',
      );
      for (const row of SEED)
        await client.query(
          'INSERT INTO legacy_contacts (id, owner_id, note, birthday, city) VALUES ($1, $2, $3, $4, $5)',
          [row.id, row.ownerId, row.note, row.birthday, row.city],
        );
      // The app's migration, written by hand (migration:generate would drop the column).
      await client.query(
        plaintextAdoptionSql({
          table: 'legacy_contacts',
          column: 'note',
          from: 'text',
        }),
      );
      await client.query(
        plaintextAdoptionSql({
          table: 'legacy_contacts',
          column: 'birthday',
          from: 'date',
        }),
      );
    });
    dataSource = await new DataSource({
      type: 'postgres',
      url: database.url,
      entities: [LegacyContact],
    }).initialize();
    installEncryptedColumns(dataSource, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      // The test keeps every key version: the write guard always finds its row.
      liveKeySql: 'SELECT $1::text, $2::int',
    });
  });

  afterAll(async () => {
    await dataSource?.destroy();
    delete process.env.ADOPTION_TEST_DATABASE_URL;
    await database?.drop();
  });

  it('knows the adopting columns from the metadata (logged at start-up, counted by the status command)', () => {
    expect(adoptingColumnNames(dataSource.entityMetadatas)).toEqual([
      'LegacyContact.note',
      'LegacyContact.birthday',
    ]);
    expect(adoptingEntitiesOf(dataSource)).toEqual([
      {
        name: 'LegacyContact',
        tablePath: ['legacy_contacts'],
        primaryColumn: {
          propertyName: 'id',
          databaseName: 'id',
          sqlType: 'integer',
        },
        ownerColumn: 'owner_id',
        adoptingColumns: ['note', 'birthday'],
      },
    ]);
  });

  it('converted every value in place, each marked, NULL kept', async () => {
    const rows = await rawRows(database.url);
    expect(
      rows.map(({ note }) => note && decodeAdoptedPlaintext(note)),
    ).toEqual(SEED.map(({ note }) => note));
    expect(
      rows.every(({ note }) => note === null || isAdoptedPlaintext(note)),
    ).toBe(true);
  });

  it('reads every row through TypeORM without any keys', async () => {
    expect(KeyContext.current()).toBeUndefined();
    const read = await dataSource
      .getRepository(LegacyContact)
      .find({ order: { id: 'ASC' } });
    expect(read.map((row) => ({ ...row }))).toEqual(SEED.map(asRead));
  });

  it('the status command counts rows, plaintext, ownerless values and owners, chunk by chunk', async () => {
    const { exitCode, stdout, stderr } = await status('--json', '--owners');
    expect(exitCode).toBe(0);
    // Not a terminal: progress as plain lines on stderr (the first chunk's; then one per 2 s).
    expect(stderr).toMatch(
      /^LegacyContact(:| \[[#-]+\]) 2 (rows|of ~\d+ rows \(\d+%\))\n$/,
    );
    expect(JSON.parse(stdout)).toEqual({
      complete: false,
      entities: [
        {
          entity: 'LegacyContact',
          table: 'legacy_contacts',
          rows: 5,
          ownersWithPlaintext: 2,
          columns: [
            { column: 'note', plaintextRows: 4, ownerlessPlaintextRows: 1 },
            { column: 'birthday', plaintextRows: 3, ownerlessPlaintextRows: 0 },
          ],
        },
      ],
      ownersWithPlaintext: 2,
      owners: [OWNER_A, OWNER_B].sort(),
    });
    expect(stdout).not.toContain('Zoë');
    expect(stdout).not.toContain('private');
  });

  it('--check fails (exit 1) while plaintext is left, and the table says what is left', async () => {
    const { exitCode, stdout } = await status('--check');
    expect(exitCode).toBe(1);
    expect(stdout.split('\n').slice(0, 3)).toEqual([
      'entity         table            column    rows  plaintext  ownerless  owners',
      'LegacyContact  legacy_contacts  note         5          4          1       2',
      'LegacyContact  legacy_contacts  birthday     5          3          0       2',
    ]);
    expect(stdout).toContain('2 owner(s) still hold plaintext.');
    expect(stdout).toContain('1 plaintext value(s) have no owner');
  });

  it('refuses an entity that does not adopt plaintext: exit 1', async () => {
    const { exitCode, stderr } = await status('--entity', 'Nothing');
    expect(exitCode).toBe(1);
    expect(stderr).toBe(
      'nest-encryption adoption: no entity named "Nothing" adopts plaintext (adopting: LegacyContact)\n',
    );
  });

  it('the closing migration raises while marked rows remain, and changes nothing', async () => {
    await withPgClient(database.url, async (client) => {
      await expect(
        client.query(
          endPlaintextAdoptionSql('legacy_contacts', ['note', 'birthday']),
        ),
      ).rejects.toThrow(
        'plaintext adoption of legacy_contacts (note, birthday) is not finished: rows still hold plaintext',
      );
    });
  });

  it("seals what a write with the owner's keys saves; reads keep working for everyone", async () => {
    const repository = dataSource.getRepository(LegacyContact);
    await asOwner(OWNER_A, () =>
      dataSource.transaction(async (manager) => {
        const row = await manager.findOneByOrFail(LegacyContact, { id: 1 });
        expect(row.note).toBe('Zoë ☃ 李');
        row.note = 'Zoë, rewritten';
        await manager.save(row);
      }),
    );
    const [first] = await rawRows(database.url);
    expect(first.note?.[0]).toBe(1);
    expect(first.note?.includes(Buffer.from('Zoë'))).toBe(false);
    // save() compares plaintexts: the unchanged birthday is not rewritten, so still plaintext.
    expect(isAdoptedPlaintext(first.birthday as Buffer)).toBe(true);

    // The owner reads the ciphertext back; other owners' legacy rows read without keys.
    await asOwner(OWNER_A, async () =>
      expect((await repository.findOneByOrFail({ id: 1 })).note).toBe(
        'Zoë, rewritten',
      ),
    );
    expect((await repository.findOneByOrFail({ id: 3 })).note).toBe(
      'B private',
    );
    await expect(repository.findOneByOrFail({ id: 1 })).rejects.toThrow(
      KeyUnavailableError,
    );
  });

  it('once every value is sealed (and the ownerless row dealt with), --check passes and the mode can end', async () => {
    for (const owner of [OWNER_A, OWNER_B])
      await asOwner(owner, () =>
        dataSource.transaction(async (manager) => {
          const rows = await manager.findBy(LegacyContact, { ownerId: owner });
          // Adopting by hand, as an app without the background pass can: write every adopting column again.
          for (const row of rows)
            await manager.update(
              LegacyContact,
              { id: row.id },
              { note: row.note, birthday: row.birthday },
            );
        }),
      );
    // No login can ever encrypt a row without an owner: this app chose to delete it.
    await dataSource.query(
      'DELETE FROM legacy_contacts WHERE owner_id IS NULL',
    );

    const { exitCode, stdout } = await status('--check', '--json');
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      complete: true,
      ownersWithPlaintext: 0,
      entities: [
        {
          rows: 4,
          columns: [
            { column: 'note', plaintextRows: 0 },
            { column: 'birthday', plaintextRows: 0 },
          ],
        },
      ],
    });
    const raw = await rawRows(database.url);
    for (const { note, birthday } of raw)
      for (const value of [note, birthday])
        if (value !== null) expect(value[0]).toBe(1);
    await withPgClient(database.url, (client) =>
      client.query(
        endPlaintextAdoptionSql('legacy_contacts', ['note', 'birthday']),
      ),
    );
    // Every value reads back as seeded, under its owner's keys.
    for (const owner of [OWNER_A, OWNER_B])
      await asOwner(owner, async () => {
        const read = await dataSource
          .getRepository(LegacyContact)
          .find({ where: { ownerId: owner }, order: { id: 'ASC' } });
        expect(read.map((row) => ({ ...row }))).toEqual(
          SEED.filter((row) => row.ownerId === owner)
            .map(asRead)
            .map((row) =>
              row.id === 1 ? { ...row, note: 'Zoë, rewritten' } : row,
            ),
        );
      });
  });
});
