import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { DataSource, In } from 'typeorm';
import { generateDataKey } from '@vault-pii/nest-encryption/crypto';
import {
  BlindIndexes,
  isAdoptedPlaintext,
  KeyContext,
  Keyring,
  KeyRotationJob,
  keyVersionBytes,
  PLAINTEXT_ADOPTION_LOCK_NAMESPACE,
  PlaintextAdoptionJob,
  type PlaintextAdoptionObserver,
  plaintextAdoptionSql,
  SessionKeyVault,
} from '@vault-pii/nest-encryption';
import { advisoryLockKey } from '../../src/internal/advisory-lock-key';
import {
  ADOPTION_PASS_SCHEMA,
  AdoptedContact,
  logIn,
  startAdoptionPassApp,
} from '../fixtures/adoption-pass-app';
import { rotateToVersion2 } from '../support/key-tables';
import {
  createTestDatabase,
  TestDatabase,
  withPgClient,
} from '@vault-pii/nest-encryption/testing';

/**
 * Plaintext adoption's background pass on PostgreSQL (docs/plaintext-adoption.md#the-background-pass):
 * a table seeded in plaintext and converted by `plaintextAdoptionSql`; owners log in (a vault
 * session opens) and their rows become ciphertext, searchable, while reads never break; a process
 * killed mid-way loses nothing; a rotation racing the pass leaves nothing under the destroyed key.
 */

interface Seeded {
  id: number;
  ownerId: string;
  name: string | null;
  birthday: string | null;
}

const HELD_KEYS = new Map<string, Map<number, Buffer>>();
let nextId = 1;

/** A fresh keyring of `ownerId` with `versions`, the last one active. */
function keyringOf(ownerId: string, versions: number[] = [1]): Keyring {
  const keys = HELD_KEYS.get(ownerId) as Map<number, Buffer>;
  return new Keyring(
    ownerId,
    new Map(versions.map((v) => [v, Buffer.from(keys.get(v) as Buffer)])),
    versions[versions.length - 1],
  );
}

/** Non-NULL values of `rows`: what the pass seals. */
const valuesOf = (rows: readonly Seeded[]) =>
  rows.reduce(
    (sum, row) =>
      sum + (row.name === null ? 0 : 1) + (row.birthday === null ? 0 : 1),
    0,
  );
/** Rows with a value to seal (a row with both NULL holds no plaintext). */
const rowsWithValues = (rows: readonly Seeded[]) =>
  rows.filter((row) => row.name !== null || row.birthday !== null).length;

const asRead = (row: Seeded) => ({
  id: row.id,
  ownerId: row.ownerId,
  name: row.name,
  birthday:
    row.birthday === null ? null : new Date(`${row.birthday}T00:00:00Z`),
});

/** What the observer heard, summed. */
function recordingObserver() {
  const seen = { runs: [] as string[], rows: 0, values: 0 };
  const observer: PlaintextAdoptionObserver = {
    runEnded: (outcome) => seen.runs.push(outcome),
    rowsAdopted: (rows, values) => {
      seen.rows += rows;
      seen.values += values;
    },
  };
  return { seen, observer };
}

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the plaintext adoption pass on PostgreSQL', () => {
  let database: TestDatabase;
  const apps: TestingModule[] = [];
  const seeds = new Map<string, Seeded[]>();

  /** An account with key version 1 and `count` contacts stored in plaintext (before the migration). */
  async function addAccount(count: number): Promise<string> {
    const ownerId = randomUUID();
    HELD_KEYS.set(ownerId, new Map([[1, generateDataKey()]]));
    const rows: Seeded[] = Array.from({ length: count }, (_, i) => ({
      id: nextId++,
      ownerId,
      name:
        i % 7 === 3 ? null : i % 11 === 5 ? '' : `Name ${i} ☃ of ${ownerId}`,
      birthday:
        i % 5 === 2
          ? null
          : `19${String(10 + (i % 90)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
    }));
    seeds.set(ownerId, rows);
    await withPgClient(database.url, async (client) => {
      await client.query(
        'INSERT INTO accounts (id, current_key) VALUES ($1, 1)',
        [ownerId],
      );
      await client.query(
        'INSERT INTO account_keys (account_id, key_version) VALUES ($1, 1)',
        [ownerId],
      );
      await client.query(
        `INSERT INTO adopted_contacts (id, owner_id, name, birthday)
         SELECT * FROM unnest($1::int[], $2::uuid[], $3::text[], $4::date[])`,
        [
          rows.map((row) => row.id),
          rows.map((row) => row.ownerId),
          rows.map((row) => row.name),
          rows.map((row) => row.birthday),
        ],
      );
    });
    return ownerId;
  }

  /** The owner's stored bytes, by kind: marked plaintext, envelopes per key version, NULL. */
  async function storedKinds(ownerId: string) {
    const kinds = { plaintext: 0, v1: 0, v2: 0, nulls: 0, indexed: 0 };
    await withPgClient(database.url, async (client) => {
      const { rows } = await client.query<{
        name: Buffer | null;
        birthday: Buffer | null;
        name_index: Buffer | null;
      }>(
        'SELECT name, birthday, name_index FROM adopted_contacts WHERE owner_id = $1',
        [ownerId],
      );
      for (const row of rows) {
        if (row.name_index) kinds.indexed++;
        for (const value of [row.name, row.birthday]) {
          if (value === null) kinds.nulls++;
          else if (isAdoptedPlaintext(value)) kinds.plaintext++;
          else if (value[0] !== 1)
            throw new Error('neither marker nor envelope');
          else if (value.subarray(2, 6).equals(keyVersionBytes(1))) kinds.v1++;
          else if (value.subarray(2, 6).equals(keyVersionBytes(2))) kinds.v2++;
          else throw new Error('an envelope under an unknown version');
        }
      }
    });
    return kinds;
  }

  /** Every row of `ownerId` read through TypeORM with `versions` of their keys equals the seed. */
  async function expectReadsAsSeeded(
    dataSource: DataSource,
    ownerId: string,
    versions: number[] = [1],
  ): Promise<void> {
    const read = await KeyContext.runWithKeyring(
      keyringOf(ownerId, versions),
      () =>
        dataSource
          .getRepository(AdoptedContact)
          .find({ where: { ownerId }, order: { id: 'ASC' } }),
    );
    expect(
      read.map(({ id, ownerId: owner, name, birthday }) => ({
        id,
        ownerId: owner,
        name,
        birthday,
      })),
    ).toEqual((seeds.get(ownerId) as Seeded[]).map(asRead));
  }

  /** The owners of the tests, seeded before the migration. */
  const owners = {
    first: '',
    second: '',
    bystander: '',
    locked: '',
    killed: '',
    rotated: '',
    retired: '',
    stopped: '',
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await withPgClient(database.url, (client) =>
      client.query(ADOPTION_PASS_SCHEMA),
    );
    owners.first = await addAccount(1_200);
    owners.second = await addAccount(130);
    owners.bystander = await addAccount(40);
    owners.locked = await addAccount(30);
    owners.killed = await addAccount(1_000);
    owners.rotated = await addAccount(1_500);
    HELD_KEYS.get(owners.rotated)?.set(2, generateDataKey());
    owners.retired = await addAccount(20);
    owners.stopped = await addAccount(300);
    // The app's migration, written by hand (migration:generate would drop the columns).
    await withPgClient(database.url, async (client) => {
      await client.query(
        plaintextAdoptionSql({
          table: 'adopted_contacts',
          column: 'name',
          from: 'text',
        }),
      );
      await client.query(
        plaintextAdoptionSql({
          table: 'adopted_contacts',
          column: 'birthday',
          from: 'date',
        }),
      );
    });
  });

  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    for (const keys of HELD_KEYS.values())
      for (const key of keys.values()) key.fill(0);
    await database?.drop();
  });

  async function startApp(observer: PlaintextAdoptionObserver, batchRows = 50) {
    const app = await startAdoptionPassApp(database.url, {
      batchRows,
      observer,
    });
    apps.push(app);
    return app;
  }

  it('fills each owner’s rows with ciphertext and blind indexes at login; reads never break; others untouched', async () => {
    const { first: owner, second, bystander } = owners;
    const { seen, observer } = recordingObserver();
    const app = await startApp(observer);
    const dataSource = app.get(DataSource);
    const job = app.get(PlaintextAdoptionJob);
    expect(job.adoptingEntities.map((entity) => entity.name)).toEqual([
      'AdoptedContact',
    ]);
    const before = await storedKinds(owner);
    expect(before).toMatchObject({ v1: 0, v2: 0, indexed: 0 });
    expect(before.plaintext).toBe(valuesOf(seeds.get(owner) as Seeded[]));
    await expect(job.isComplete(owner)).resolves.toBe(false);

    // A reader of the owner's rows throughout, each read one snapshot: every value as seeded,
    // whether the snapshot holds plaintext, ciphertext or both.
    let reading = true;
    const snapshots = { reads: 0, mixed: 0 };
    const reader = (async () => {
      while (reading) {
        await KeyContext.runWithKeyring(keyringOf(owner), () =>
          dataSource.transaction('REPEATABLE READ', async (manager) => {
            const [{ plain, sealed }] = await manager.query<
              { plain: string; sealed: string }[]
            >(
              `SELECT count(*) FILTER (WHERE substring(name from 1 for 1) = '\\x00'::bytea) AS plain,
                      count(*) FILTER (WHERE substring(name from 1 for 1) = '\\x01'::bytea) AS sealed
                 FROM adopted_contacts WHERE owner_id = $1`,
              [owner],
            );
            const read = await manager.find(AdoptedContact, {
              where: { ownerId: owner },
              order: { id: 'ASC' },
            });
            expect(
              read.map(({ id, ownerId, name, birthday }) => ({
                id,
                ownerId,
                name,
                birthday,
              })),
            ).toEqual((seeds.get(owner) as Seeded[]).map(asRead));
            snapshots.reads++;
            if (Number(plain) > 0 && Number(sealed) > 0) snapshots.mixed++;
          }),
        );
      }
    })();

    await logIn(app, keyringOf(owner));
    expect(job.isRunning(owner)).toBe(true);
    // A second login and a request of the session while the pass runs start no second pass.
    const session = await logIn(app, keyringOf(owner));
    (await app.get(SessionKeyVault).unlock(session)).zero();
    await logIn(app, keyringOf(second));
    await waitFor(
      () => !job.isRunning(owner) && !job.isRunning(second),
      'both passes',
    );
    reading = false;
    await reader;

    expect(seen.runs).toEqual(['completed', 'completed']);
    const adoptedRows =
      rowsWithValues(seeds.get(owner) as Seeded[]) +
      rowsWithValues(seeds.get(second) as Seeded[]);
    expect(adoptedRows).toBeGreaterThan(1_250);
    expect(seen.rows).toBe(adoptedRows);
    expect(snapshots.reads).toBeGreaterThan(1);
    expect(snapshots.mixed).toBeGreaterThan(0);

    for (const ownerId of [owner, second]) {
      const after = await storedKinds(ownerId);
      // Every value an envelope under version 1, none left marked; NULL stays NULL.
      expect(after).toMatchObject({ plaintext: 0, v2: 0 });
      const rows = seeds.get(ownerId) as Seeded[];
      expect(after.v1).toBe(valuesOf(rows));
      expect(after.indexed).toBe(
        rows.filter((row) => row.name !== null).length,
      );
      await expectReadsAsSeeded(dataSource, ownerId);
      await expect(job.isComplete(ownerId)).resolves.toBe(true);
    }
    expect(seen.values).toBe(
      valuesOf([owner, second].flatMap((id) => seeds.get(id) as Seeded[])),
    );

    // The owner-keyed blind index finds adopted rows.
    await KeyContext.runWithKeyring(keyringOf(owner), async () => {
      const found = await dataSource.getRepository(AdoptedContact).findBy({
        nameIndex: In(
          app
            .get(BlindIndexes)
            .for(AdoptedContact, 'nameIndex', `NAME 8 ☃ OF ${owner}`),
        ),
      });
      expect(found.map((row) => row.id)).toEqual([
        (seeds.get(owner) as Seeded[])[8].id,
      ]);
    });

    // The owner who never logged in: still plaintext, no index, readable without keys.
    const untouched = await storedKinds(bystander);
    expect(untouched).toMatchObject({ v1: 0, v2: 0, indexed: 0 });
    expect(untouched.plaintext).toBe(
      valuesOf(seeds.get(bystander) as Seeded[]),
    );
    await expect(job.isComplete(bystander)).resolves.toBe(false);
    const legacy = await dataSource
      .getRepository(AdoptedContact)
      .find({ where: { ownerId: bystander }, order: { id: 'ASC' } });
    expect(legacy.map((row) => row.name)).toEqual(
      (seeds.get(bystander) as Seeded[]).map((row) => row.name),
    );

    // A later login finds nothing left, cheaply, and writes nothing.
    await logIn(app, keyringOf(second));
    await waitFor(() => seen.runs.length === 3, 'the third pass');
    expect(seen.runs[2]).toBe('nothing-to-adopt');
    expect(seen.rows).toBe(adoptedRows);
  });

  it('warns at start-up when columns adopt plaintext but the pass is not loaded, and only then', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const warned = () =>
        warn.mock.calls.filter(([message]) =>
          String(message).includes('PlaintextAdoptionModule is not loaded'),
        );
      apps.push(await startAdoptionPassApp(database.url, false));
      expect(warned()).toEqual([
        [
          'columns adopt plaintext but PlaintextAdoptionModule is not loaded: only values the app writes become ciphertext (AdoptedContact.name, AdoptedContact.birthday)',
        ],
      ]);
      warn.mockClear();
      await startApp(recordingObserver().observer);
      expect(warned()).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });

  it('leaves an owner to the instance holding their adoption lock, and refuses bad input', async () => {
    const owner = owners.locked;
    const { seen, observer } = recordingObserver();
    const app = await startApp(observer);
    const job = app.get(PlaintextAdoptionJob);
    await withPgClient(database.url, async (other) => {
      await other.query('SELECT pg_advisory_lock($1::bigint)', [
        advisoryLockKey(PLAINTEXT_ADOPTION_LOCK_NAMESPACE, owner),
      ]);
      await expect(job.adopt(owner, keyringOf(owner))).resolves.toMatchObject({
        outcome: 'running-elsewhere',
        rows: 0,
      });
    });
    expect((await storedKinds(owner)).v1).toBe(0);
    await expect(job.adopt(owner, keyringOf(owner))).resolves.toMatchObject({
      outcome: 'completed',
      rows: rowsWithValues(seeds.get(owner) as Seeded[]),
    });
    expect(seen.runs).toEqual(['running-elsewhere', 'completed']);

    await expect(job.isComplete('')).rejects.toThrow(
      'ownerId must be a non-empty string',
    );
    const foreign = keyringOf(owner);
    await expect(job.adopt(randomUUID(), foreign)).rejects.toThrow(
      'the keyring is not the owner’s',
    );
    await expect(job.adopt('', keyringOf(owner))).rejects.toThrow(
      'ownerId must be a non-empty string',
    );
    // Refused, and the keyring it was handed is zeroed all the same.
    expect(foreign.isZeroed).toBe(true);
  });

  it('a process killed after its first batch loses nothing: a restart and a new login finish the pass', async () => {
    const owner = owners.killed;
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        join(__dirname, '..', 'fixtures', 'adoption-pass-child.ts'),
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TS_NODE_PROJECT: join(__dirname, '..', '..', 'tsconfig.json'),
          ADOPTION_DATABASE_URL: database.url,
          ADOPTION_OWNER: owner,
          ADOPTION_KEY: (HELD_KEYS.get(owner)?.get(1) as Buffer).toString(
            'hex',
          ),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<string | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    try {
      await waitFor(
        () => /committed 50\n/.test(output) || child.exitCode !== null,
        'the child’s first committed batch',
        60_000,
      );
      child.kill('SIGKILL');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');
    expect(output).toContain('committed 50');
    expect(output).not.toContain('ended');

    const mid = await storedKinds(owner);
    expect(mid.v1).toBeGreaterThan(0);
    expect(mid.plaintext).toBeGreaterThan(0);

    const { seen, observer } = recordingObserver();
    const app = await startApp(observer, 200);
    // The dead process's lock went with its connection.
    await logIn(app, keyringOf(owner));
    await waitFor(() => seen.runs.length === 1, 'the pass after the restart');
    expect(seen.runs).toEqual(['completed']);
    expect(seen.rows).toBeLessThan(1_000);
    const after = await storedKinds(owner);
    expect(after.plaintext).toBe(0);
    expect(after.v1).toBe(mid.v1 + mid.plaintext);
    await expectReadsAsSeeded(app.get(DataSource), owner);
  }, 120_000);

  it('stops after the current batch at shutdown; the first request after the restart finishes', async () => {
    const owner = owners.stopped;
    let stopping: Promise<void> | undefined;
    const first = recordingObserver();
    const app = await startApp({
      runEnded: (outcome) => first.observer.runEnded(outcome),
      rowsAdopted: (rows, values) => {
        first.observer.rowsAdopted(rows, values);
        // The shutdown hook, as Nest's close() calls it.
        stopping ??= app.get(PlaintextAdoptionJob).beforeApplicationShutdown();
      },
    });
    await expect(
      app.get(PlaintextAdoptionJob).adopt(owner, keyringOf(owner)),
    ).resolves.toMatchObject({ outcome: 'stopped', rows: 50 });
    await stopping;
    await app.close();
    expect(first.seen.runs).toEqual(['stopped']);
    const mid = await storedKinds(owner);
    expect(mid.plaintext).toBeGreaterThan(0);

    // A session that outlived the restart (as in a Redis vault): its entry is there, no login
    // comes, and its first request resumes the pass.
    const second = recordingObserver();
    const restarted = await startApp(second.observer);
    const vault = restarted.get(SessionKeyVault);
    const session = {
      sessionId: randomUUID(),
      userId: owner,
      clientShare: Buffer.alloc(32, 7),
    };
    const stored = keyringOf(owner);
    await vault.store(session, stored);
    stored.zero();
    const job = restarted.get(PlaintextAdoptionJob);
    (await vault.unlock(session)).zero();
    expect(job.isRunning(owner)).toBe(true);
    await waitFor(() => second.seen.runs.length === 1, 'the resumed pass');
    // Further requests within the recheck interval start nothing more (a pass is marked running
    // as the listener returns).
    (await vault.unlock(session)).zero();
    expect(job.isRunning(owner)).toBe(false);
    expect(second.seen.runs).toEqual(['completed']);
    expect(50 + second.seen.rows).toBe(
      rowsWithValues(seeds.get(owner) as Seeded[]),
    );
    expect(await storedKinds(owner)).toMatchObject({ plaintext: 0, v2: 0 });
    await expectReadsAsSeeded(restarted.get(DataSource), owner);
  });

  it('commits no batch under a key version that no longer exists: the rows stay plaintext for the next login', async () => {
    const owner = owners.retired;
    const { seen, observer } = recordingObserver();
    const app = await startApp(observer);
    const dataSource = app.get(DataSource);
    const before = await storedKinds(owner);
    // A session unlocked before the rotation still holds version 1 only.
    await rotateToVersion2(dataSource, owner, 'finished');

    await expect(
      app.get(PlaintextAdoptionJob).adopt(owner, keyringOf(owner)),
    ).resolves.toMatchObject({ outcome: 'key-retired', rows: 0 });
    expect(seen).toEqual({ runs: ['key-retired'], rows: 0, values: 0 });
    expect(await storedKinds(owner)).toEqual(before);
    await expect(app.get(PlaintextAdoptionJob).isComplete(owner)).resolves.toBe(
      false,
    );
  });

  it('a key rotation started during the pass leaves no ciphertext under the destroyed version', async () => {
    const owner = owners.rotated;
    let rotation: Promise<unknown> | undefined;
    const { seen, observer } = recordingObserver();
    const app = await startApp({
      runEnded: (outcome) => observer.runEnded(outcome),
      rowsAdopted: (rows, values) => {
        observer.rowsAdopted(rows, values);
        // After the pass's first batch committed under version 1: version 2 comes into force.
        rotation ??= rotateToVersion2(
          app.get(DataSource),
          owner,
          'started',
        ).then(() =>
          app.get(KeyRotationJob).run(owner, keyringOf(owner, [1, 2])),
        );
      },
    });

    await logIn(app, keyringOf(owner));
    await waitFor(() => rotation !== undefined, 'the first batch');
    await expect(rotation).resolves.toMatchObject({ outcome: 'completed' });
    await waitFor(() => seen.runs.length === 1, 'the pass');
    // Either the pass finished first (the rotation re-encrypted its batches), or the rotation
    // retired version 1 under it and the pass stopped before committing under a destroyed key.
    expect(['completed', 'key-retired']).toContain(seen.runs[0]);

    const kinds = await storedKinds(owner);
    expect(kinds).toMatchObject({ plaintext: 0, v1: 0 });
    expect(kinds.v2).toBe(valuesOf(seeds.get(owner) as Seeded[]));
    const keys = await app
      .get(DataSource)
      .query<{ key_version: number }[]>(
        'SELECT key_version FROM account_keys WHERE account_id = $1',
        [owner],
      );
    expect(keys.map((row) => row.key_version)).toEqual([2]);
    await expectReadsAsSeeded(app.get(DataSource), owner, [2]);
  });
});
