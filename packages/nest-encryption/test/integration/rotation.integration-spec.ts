import { randomBytes, randomUUID } from 'node:crypto';
import { Test, TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  Column,
  DataSource,
  Entity,
  type EntityManager,
  In,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { generateDataKey } from '@vault-pii/nest-encryption/crypto';
import {
  BlindIndex,
  BlindIndexes,
  EncryptedColumn,
  EncryptedColumnsModule,
  EncryptionOwner,
  KeyContext,
  Keyring,
  KeyRotationJob,
  KeyRotationModule,
  type KeyRotationObserver,
  KeyVaultModule,
  keyVersionBytes,
  ReencryptionBatches,
  type RotationParticipant,
  rotationSqlFor,
} from '@vault-pii/nest-encryption';
import {
  createTestDatabase,
  TestDatabase,
  withPgClient,
} from '@vault-pii/nest-encryption/testing';
import { advisoryLockKey } from '../../src/internal/advisory-lock-key';
import {
  KEY_TABLES_SCHEMA,
  keyTablesStore,
  rotateToVersion2,
} from '../support/key-tables';

/**
 * The rotation engine on real PostgreSQL (docs/rotation.md), as an app other than vault-pii wires
 * it: its own table names for owners, keys and rotations, one encrypted entity with an owner-keyed
 * blind index, and a participant standing for files. Needs DATABASE_URL (the e2e Jest config's
 * global setup provides one); everything happens in a throw-away database.
 */

@Entity({ name: 'notes' })
class Note {
  @PrimaryGeneratedColumn()
  id: number;

  @EncryptionOwner()
  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @EncryptedColumn()
  title: string;

  @EncryptedColumn()
  body: string | null;

  @BlindIndex({ source: 'title', normalize: (title) => title.toLowerCase() })
  @Column({ name: 'title_index', type: 'bytea', nullable: true })
  titleIndex: Buffer | null;
}

const SCHEMA = `${KEY_TABLES_SCHEMA}
  CREATE TABLE notes (
    id serial PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES accounts (id),
    title bytea NOT NULL,
    body bytea,
    title_index bytea);
`;

const store = keyTablesStore;

/** Files of a sort: each item names the key version it is sealed under, as a file header does. */
class FakeFiles implements RotationParticipant {
  readonly name = 'fake-files';
  readonly items = new Map<string, { ownerId: string; version: number }>();
  /** Called by `reencrypt` before it seals (a test's way into the middle of a run). */
  onReencrypt?: (id: string) => Promise<void>;
  /** When set, `reencrypt` reports success but leaves the item under its version. */
  broken = false;
  readonly checkedInTransaction: boolean[] = [];

  pendingUnder(
    ownerId: string,
    toVersion: number,
    manager?: EntityManager,
  ): Promise<string[]> {
    this.checkedInTransaction.push(manager !== undefined);
    return Promise.resolve(
      [...this.items]
        .filter(
          ([, item]) => item.ownerId === ownerId && item.version !== toVersion,
        )
        .map(([id]) => id),
    );
  }

  async reencrypt(
    ownerId: string,
    id: string,
    keyring: Keyring,
  ): Promise<boolean> {
    const item = this.items.get(id);
    if (!item || item.ownerId !== ownerId) return false;
    await this.onReencrypt?.(id);
    if (!this.broken) item.version = keyring.activeVersion;
    return true;
  }
}

/** What the observer was told, summed; `onValues` also hears of each committed batch. */
function countingObserver(onValues?: () => void) {
  const seen = {
    runs: [] as string[],
    running: 0,
    values: 0,
    items: [] as string[],
  };
  const observer: KeyRotationObserver = {
    runEnded: (outcome) => seen.runs.push(outcome),
    runningChanged: (delta) => (seen.running += delta),
    valuesReencrypted: (count) => {
      seen.values += count;
      onValues?.();
    },
    itemsReencrypted: (count, participant) =>
      seen.items.push(...Array<string>(count).fill(participant)),
  };
  return { seen, observer };
}

describe('the key rotation engine on PostgreSQL', () => {
  let database: TestDatabase;
  const keys = new Map([
    [1, generateDataKey()],
    [2, generateDataKey()],
  ]);
  const files = new FakeFiles();
  const apps: TestingModule[] = [];

  /** A fresh keyring of `ownerId` with `versions`, `active` the last. */
  const keyringOf = (ownerId: string, versions: number[]) =>
    new Keyring(
      ownerId,
      new Map(versions.map((v) => [v, Buffer.from(keys.get(v) as Buffer)])),
      versions[versions.length - 1],
    );

  async function startApp(
    observer: KeyRotationObserver,
  ): Promise<TestingModule> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: database.url,
          entities: [Note],
          synchronize: false,
        }),
        KeyVaultModule.forRoot({ vaultKey: randomBytes(32), isGlobal: true }),
        EncryptedColumnsModule.forRoot({
          liveKeySql: store.liveKeySql(),
          isGlobal: true,
        }),
        KeyRotationModule.forRoot({ store, participants: [files], observer }),
      ],
    }).compile();
    apps.push(moduleRef);
    return moduleRef.init();
  }

  async function addAccount(
    dataSource: DataSource,
    notes: number,
  ): Promise<{ id: string; titles: string[] }> {
    const id = randomUUID();
    await dataSource.query(
      'INSERT INTO accounts (id, current_key) VALUES ($1, 1)',
      [id],
    );
    await dataSource.query(
      'INSERT INTO account_keys (account_id, key_version) VALUES ($1, 1)',
      [id],
    );
    const titles = Array.from(
      { length: notes },
      (_, i) => `Note ${i} of ${id}`,
    );
    await KeyContext.runWithKeyring(keyringOf(id, [1]), () =>
      dataSource.transaction((manager) =>
        manager.save(
          titles.map((title, i) =>
            manager.create(Note, {
              ownerId: id,
              title,
              body: i % 3 === 0 ? null : `body ${i}`,
            }),
          ),
          { chunk: 200 },
        ),
      ),
    );
    return { id, titles };
  }

  /** What `KeyRotationService` does in vault-pii, reduced to the rows: version 2 in force. */
  const startRotation = (dataSource: DataSource, ownerId: string) =>
    rotateToVersion2(dataSource, ownerId, 'started');

  const notesUnder = async (
    dataSource: DataSource,
    ownerId: string,
    version: number,
  ) =>
    Number(
      (
        await dataSource.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM notes WHERE owner_id = $1
             AND substring(title from 3 for 4) = $2
             AND (body IS NULL OR substring(body from 3 for 4) = $2)`,
          [ownerId, keyVersionBytes(version)],
        )
      )[0].n,
    );
  const keyVersionsOf = async (dataSource: DataSource, ownerId: string) =>
    (
      await dataSource.query<{ key_version: number }[]>(
        'SELECT key_version FROM account_keys WHERE account_id = $1 ORDER BY key_version',
        [ownerId],
      )
    ).map((row) => row.key_version);
  const rotationRow = async (dataSource: DataSource, ownerId: string) =>
    (
      await dataSource.query<Record<string, number>[]>(
        'SELECT rows_reencrypted, values_reencrypted, items_reencrypted FROM rotations WHERE account_id = $1',
        [ownerId],
      )
    )[0];

  beforeAll(async () => {
    database = await createTestDatabase();
    await withPgClient(database.url, (client) => client.query(SCHEMA));
  });

  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    for (const key of keys.values()) key.fill(0);
    await database?.drop();
  });

  it('stops after a batch on shutdown, keeping the retired key, and resumes to the end in a new process', async () => {
    // --- First process: stopped by its shutdown after the first batch of 500 rows ---
    // The shutdown hook, called as Nest's close() calls it (after its onModuleDestroy hooks).
    let closing: Promise<void> | undefined;
    const first = countingObserver(() => {
      closing ??= appA.get(KeyRotationJob).beforeApplicationShutdown();
    });
    const appA = await startApp(first.observer);
    const dataSource = appA.get(DataSource);
    expect(
      appA.get(KeyRotationJob).encryptedEntities.map((entity) => entity.name),
    ).toEqual(['Note']);
    const owner = await addAccount(dataSource, 1_201);
    const bystander = await addAccount(dataSource, 3);
    files.items.set('file-1', { ownerId: owner.id, version: 1 });
    files.items.set('file-2', { ownerId: owner.id, version: 1 });
    files.items.set('file-of-bystander', { ownerId: bystander.id, version: 1 });
    await startRotation(dataSource, owner.id);

    const stopped = await appA
      .get(KeyRotationJob)
      .run(owner.id, keyringOf(owner.id, [1, 2]));
    await closing;
    await appA.close();

    expect(stopped).toMatchObject({ outcome: 'stopped', rows: 500, files: 0 });
    expect(first.seen).toEqual({
      runs: ['stopped'],
      running: 0,
      values: stopped.values,
      items: [],
    });
    // A third of the bodies are NULL: more than 500 values, fewer than 1000.
    expect(stopped.values).toBeGreaterThan(500);
    expect(stopped.values).toBeLessThan(1_000);

    // --- Second process: the rest, the items, one late write, then the retired key goes ---
    const second = countingObserver();
    const appB = await startApp(second.observer);
    const db = appB.get(DataSource);
    expect(await rotationRow(db, owner.id)).toEqual({
      rows_reencrypted: 500,
      values_reencrypted: stopped.values,
      items_reencrypted: 0,
    });
    expect(await keyVersionsOf(db, owner.id)).toEqual([1, 2]);
    expect(await notesUnder(db, owner.id, 2)).toBe(500);
    expect(await notesUnder(db, owner.id, 1)).toBe(701);

    // A request that unlocked version 1 before the rotation started commits while items are
    // re-encrypted: the retired key may not go while its row is stale, so another pass takes it.
    let rowsWhenItemsStarted: number | undefined;
    files.onReencrypt = async () => {
      if (rowsWhenItemsStarted !== undefined) return;
      rowsWhenItemsStarted = (await rotationRow(db, owner.id)).rows_reencrypted;
      await KeyContext.runWithKeyring(keyringOf(owner.id, [1]), () =>
        db.transaction((manager) =>
          manager.save(
            manager.create(Note, {
              ownerId: owner.id,
              title: 'Late write',
              body: 'under the old key',
            }),
          ),
        ),
      );
      owner.titles.push('Late write');
    };
    const completed = await appB
      .get(KeyRotationJob)
      .run(owner.id, keyringOf(owner.id, [1, 2]));

    expect(rowsWhenItemsStarted).toBe(1_201);
    expect(completed).toMatchObject({
      outcome: 'completed',
      rows: 702,
      files: 2,
    });
    expect(second.seen).toEqual({
      runs: ['completed'],
      running: 0,
      values: completed.values,
      items: ['fake-files', 'fake-files'],
    });
    // Every title (1 201 seeded, 1 late) and every body but the 401 NULL ones (i % 3 === 0).
    expect(stopped.values + completed.values).toBe(1_202 + 801);
    // The final check asked the participant inside the key-destroying transaction.
    expect(files.checkedInTransaction).toContain(true);

    expect(await keyVersionsOf(db, owner.id)).toEqual([2]);
    expect(await rotationRow(db, owner.id)).toBeUndefined();
    expect(await notesUnder(db, owner.id, 2)).toBe(1_202);
    expect(files.items.get('file-1')?.version).toBe(2);
    // Another owner's rows and items are not touched.
    expect(await notesUnder(db, bystander.id, 1)).toBe(3);
    expect(await keyVersionsOf(db, bystander.id)).toEqual([1]);
    expect(files.items.get('file-of-bystander')?.version).toBe(1);

    // Every value opens with version 2 alone, and the blind index was recomputed under it.
    await KeyContext.runWithKeyring(keyringOf(owner.id, [2]), async () => {
      const notes = await db.getRepository(Note).findBy({ ownerId: owner.id });
      expect(notes.map((note) => note.title).sort()).toEqual(
        [...owner.titles].sort(),
      );
      const found = await db.getRepository(Note).findBy({
        titleIndex: In(
          appB
            .get(BlindIndexes)
            .for(Note, 'titleIndex', 'NOTE 7 OF ' + owner.id),
        ),
      });
      expect(found.map((note) => note.title)).toEqual([
        `Note 7 of ${owner.id}`,
      ]);
    });
  });

  it('never destroys the retired key while a participant still has an item under it', async () => {
    const { seen, observer } = countingObserver();
    const app = await startApp(observer);
    const dataSource = app.get(DataSource);
    const owner = await addAccount(dataSource, 2);
    files.onReencrypt = undefined;
    files.broken = true;
    files.items.set('stuck-file', { ownerId: owner.id, version: 1 });
    await startRotation(dataSource, owner.id);

    await expect(
      app.get(KeyRotationJob).run(owner.id, keyringOf(owner.id, [1, 2])),
    ).rejects.toThrow('ciphertexts under the old key version keep appearing');

    expect(seen.runs).toEqual(['failed']);
    expect(seen.running).toBe(0);
    // Columns done, the item not: the old key and the rotation row stay for a later run.
    expect(await notesUnder(dataSource, owner.id, 2)).toBe(2);
    expect(await keyVersionsOf(dataSource, owner.id)).toEqual([1, 2]);
    expect(await rotationRow(dataSource, owner.id)).toMatchObject({
      rows_reencrypted: 2,
    });

    // Once the participant works, the next run finishes.
    files.broken = false;
    await expect(
      app.get(KeyRotationJob).run(owner.id, keyringOf(owner.id, [1, 2])),
    ).resolves.toMatchObject({ outcome: 'completed', rows: 0, files: 1 });
    expect(await keyVersionsOf(dataSource, owner.id)).toEqual([2]);
  });

  it('leaves a run to the process holding the owner’s advisory lock, and ends at once with no rotation pending', async () => {
    const { seen, observer } = countingObserver();
    const app = await startApp(observer);
    const dataSource = app.get(DataSource);
    const owner = await addAccount(dataSource, 1);
    const job = app.get(KeyRotationJob);

    await expect(
      job.run(owner.id, keyringOf(owner.id, [1])),
    ).resolves.toMatchObject({ outcome: 'not-pending', rows: 0 });

    await startRotation(dataSource, owner.id);
    // The same lock id as vault-pii's own rotation lock: namespace `key-rotation`, the owner id.
    await withPgClient(database.url, async (other) => {
      await other.query('SELECT pg_advisory_lock($1::bigint)', [
        advisoryLockKey('key-rotation', owner.id),
      ]);
      await expect(
        job.run(owner.id, keyringOf(owner.id, [1, 2])),
      ).resolves.toMatchObject({ outcome: 'running-elsewhere', rows: 0 });
    });
    expect(seen.runs).toEqual(['not-pending', 'running-elsewhere']);
    expect(await keyVersionsOf(dataSource, owner.id)).toEqual([1, 2]);
  });

  it('finds adopted plaintext (first byte 0x00) in adopting columns only, per owner', async () => {
    const table = {
      tablePath: ['legacy'],
      primaryColumn: { databaseName: 'id', sqlType: 'integer' },
      ownerColumn: 'owner_id',
      encryptedColumns: [
        { databaseName: 'kept', adopting: true },
        { databaseName: 'plain' },
      ],
      blindIndexes: [],
    };
    const sql = rotationSqlFor(table, (name) => `"${name}"`);
    const owner = randomUUID();
    const other = randomUUID();
    await withPgClient(database.url, async (client) => {
      await client.query(
        'CREATE TABLE legacy (id integer PRIMARY KEY, owner_id uuid NOT NULL, kept bytea, plain bytea)',
      );
      const marker = Buffer.from([0x00, 0x01, 0x61]);
      const envelope = Buffer.from([0x01, 0x01, 0x00, 0x00, 0x00, 0x02]);
      for (const [id, ownerId, kept, plain] of [
        [1, owner, marker, envelope],
        [2, owner, envelope, marker],
        [3, owner, null, null],
        [4, other, marker, null],
      ] as const)
        await client.query('INSERT INTO legacy VALUES ($1, $2, $3, $4)', [
          id,
          ownerId,
          kept,
          plain,
        ]);
      const selected = await client.query<{ id: number }>(
        sql.selectPlaintext as string,
        [owner, 10],
      );
      // Row 2's marker is in a column that does not adopt: not plaintext to adopt.
      expect(selected.rows.map((row) => row.id)).toEqual([1]);
      expect(Object.keys(selected.rows[0])).toEqual(['id', 'kept', 'plain']);
      expect(
        (await client.query(sql.anyPlaintext as string, [owner])).rowCount,
      ).toBe(1);
      await client.query('UPDATE legacy SET kept = $1 WHERE id = 1', [
        envelope,
      ]);
      expect(
        (await client.query(sql.anyPlaintext as string, [owner])).rowCount,
      ).toBe(0);
    });

    // An entity with no adopting column has nothing to adopt: no statement runs.
    const app = await startApp(countingObserver().observer);
    const batches = ReencryptionBatches.discover(
      app.get(DataSource),
      app.get(BlindIndexes),
    );
    const runner = app.get(DataSource).createQueryRunner();
    try {
      await expect(
        batches.run(
          runner,
          owner,
          { kind: 'plaintext' },
          {
            beforeCommit: () => Promise.reject(new Error('no batch expected')),
            stopping: () => false,
          },
        ),
      ).resolves.toBe('done');
      await expect(
        batches.anyLeft(runner, owner, { kind: 'plaintext' }),
      ).resolves.toBe(false);
    } finally {
      await runner.release();
    }
  });
});
