import request from 'supertest';
import type { App } from 'supertest/types';
import type {
  EntitySubscriberInterface,
  InsertEvent,
  TransactionCommitEvent,
} from 'typeorm';
import { Contact } from '../src/contacts/contact.entity';
import type {
  ContactDto,
  ContactPageDto,
} from '../src/contacts/dto/contact.dto';
import {
  RotationInProgressError,
  EncryptedWriteOutsideTransactionError,
  KeyContext,
  type Keyring,
} from '@vault-pii/nest-encryption';
import { bearer, LoggedInUser, registerAndLogin } from './support/auth-client';
import { bodyOf } from './support/http-body';
import { unlockKeyring } from './support/key-rotation-seed';
import { expectProblem } from './support/problem-assertions';
import { createTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/wait-until';

/**
 * Issue 7: "no ciphertext is ever left under a destroyed key", for the one writer that can try —
 * a request that unlocked its keys before the rotation began and so still encrypts under the old
 * version. Each interleaving is forced with real PostgreSQL locks and read back from the raw bytes.
 */
describe('key rotation against writers still holding the old key version', () => {
  let t: TestApp;
  let http: () => App;
  /** Holds a transaction between its key-version check (lock taken) and its COMMIT. */
  let held:
    | { keyring: Keyring; locked: () => void; release: Promise<void> }
    | undefined;
  /**
   * Holds a request's insert of a contact after it unlocked its keys and opened its transaction,
   * before its INSERT (whose foreign-key check would lock the user row the job re-encrypts).
   */
  let heldInsert:
    | { userId: string; inserted: () => void; release: Promise<void> }
    | undefined;

  beforeAll(async () => {
    t = await createTestApp();
    http = () => t.app.getHttpServer();
    // Registered after the app's KeyVersionWriteGuard, so it runs once the guard's query is queued.
    const holdCommit: EntitySubscriberInterface = {
      async beforeTransactionCommit(event: TransactionCommitEvent) {
        const hold = held;
        if (!hold || KeyContext.current() !== hold.keyring) return;
        // Same connection, so this answers after the guard's check: its lock is held now.
        await event.queryRunner.query('SELECT 1');
        hold.locked();
        await hold.release;
      },
      async beforeInsert(event: InsertEvent<unknown>) {
        const hold = heldInsert;
        if (
          !hold ||
          event.metadata.target !== Contact ||
          KeyContext.current()?.userId !== hold.userId
        )
          return;
        hold.inserted();
        await hold.release;
      },
    };
    t.dataSource.subscribers.push(holdCommit);
  });
  afterAll(() => t?.close());

  async function rotate(user: LoggedInUser): Promise<void> {
    const response = await request(http())
      .post('/v1/me/keys/rotate')
      .set(...bearer(user.accessToken))
      .send({ password: user.password });
    expect(response.status).toBe(200);
  }

  const rotationDone = async (userId: string) =>
    (
      await t.dataSource.query<unknown[]>(
        'SELECT 1 FROM key_rotations WHERE user_id = $1',
        [userId],
      )
    ).length === 0;

  /** A backend of this database waits for a row lock in a statement matching `pattern`. */
  const waitingOnLock = async (pattern: string) =>
    (
      await t.dataSource.query<unknown[]>(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`,
        [pattern],
      )
    ).length > 0;

  /** The key version named by each contact's full_name ciphertext (envelope bytes 3–6). */
  async function contactVersions(userId: string): Promise<Map<string, number>> {
    const rows: { id: string; version: Buffer }[] = await t.dataSource.query(
      'SELECT id, substring(full_name from 3 for 4) AS version FROM contacts WHERE owner_id = $1',
      [userId],
    );
    return new Map(rows.map((row) => [row.id, row.version.readUInt32BE(0)]));
  }

  /** The key version named by the user row's login-email ciphertext. */
  async function emailVersion(userId: string): Promise<number> {
    const [row]: { version: Buffer }[] = await t.dataSource.query(
      'SELECT substring(email from 3 for 4) AS version FROM users WHERE id = $1',
      [userId],
    );
    return row.version.readUInt32BE(0);
  }

  async function keyVersions(userId: string): Promise<number[]> {
    const rows: { key_version: number }[] = await t.dataSource.query(
      'SELECT key_version FROM user_data_keys WHERE user_id = $1 ORDER BY 1',
      [userId],
    );
    return rows.map((row) => row.key_version);
  }

  async function listedNames(user: LoggedInUser): Promise<string[]> {
    const response = await request(http())
      .get('/v1/contacts')
      .set(...bearer(user.accessToken));
    expect(response.status).toBe(200);
    return bodyOf<ContactPageDto>(response)
      .items.map((item) => item.fullName)
      .sort();
  }

  it('refuses a write under the old version that commits after the old key was destroyed: nothing is stored', async () => {
    const user = await registerAndLogin(http());
    const stale = await unlockKeyring(t, user.userId, user.password);
    await rotate(user);
    // Once the job is past the user row (an insert's foreign-key check locks it, and the job's
    // batch would wait for this writer, which waits for the job).
    await waitUntil(
      'the job re-encrypted the user row',
      async () => (await emailVersion(user.userId)) === 2,
    );

    // The stale writer inserts (uncommitted, so the job cannot see it) and stays open until the
    // job has destroyed version 1.
    let commitNow!: () => void;
    const mayCommit = new Promise<void>((resolve) => (commitNow = resolve));
    const write = KeyContext.runWithKeyring(stale, () =>
      t.dataSource.transaction(async (manager) => {
        await manager.save(
          manager.create(Contact, {
            ownerId: user.userId,
            fullName: 'Late Writer',
            email: 'late@example.org',
          }),
        );
        await mayCommit;
      }),
    );
    const outcome = write.then(
      () => 'committed',
      (error: unknown) => error,
    );
    await waitUntil('the rotation destroyed version 1', () =>
      rotationDone(user.userId),
    );
    expect(await keyVersions(user.userId)).toEqual([2]);
    commitNow();

    expect(await outcome).toBeInstanceOf(RotationInProgressError);
    expect(await contactVersions(user.userId)).toEqual(new Map());
    expect(await listedNames(user)).toEqual([]);
  });

  it('makes the final check wait for a writer that checked its version first, then re-encrypts what it wrote', async () => {
    const user = await registerAndLogin(http());
    const created = await request(http())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName: 'Before Rotation' });
    expect(created.status).toBe(201);
    const contactId = bodyOf<ContactDto>(created).id;
    const stale = await unlockKeyring(t, user.userId, user.password);

    // Two connections pace the job. One holds the contact, so the job waits at its contacts
    // batch, after the users table; the other then takes the user row, where the final check
    // will wait, and the contact is let go.
    const contactLock = t.dataSource.createQueryRunner();
    const userLock = t.dataSource.createQueryRunner();
    try {
      await contactLock.startTransaction();
      await contactLock.query(
        'SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE',
        [contactId],
      );
      await rotate(user);
      await waitUntil('the job waits at the contacts batch', () =>
        waitingOnLock('%contacts%FOR UPDATE%'),
      );
      expect(await emailVersion(user.userId)).toBe(2);
      await userLock.startTransaction();
      await userLock.query('SELECT 1 FROM users WHERE id = $1 FOR SHARE', [
        user.userId,
      ]);
      await contactLock.commitTransaction();
      await waitUntil(
        'the job re-encrypted the contact',
        async () => (await contactVersions(user.userId)).get(contactId) === 2,
      );
      await waitUntil('the final check waits for the user row', () =>
        waitingOnLock('%FROM users WHERE id%FOR%UPDATE%'),
      );

      // The stale writer overwrites the (re-encrypted) contact under version 1 and stops between
      // its check — version 1 still exists, now locked FOR KEY SHARE — and its COMMIT.
      let release!: () => void;
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      held = {
        keyring: stale,
        locked,
        release: new Promise<void>((resolve) => (release = resolve)),
      };
      const write = KeyContext.runWithKeyring(stale, () =>
        t.dataSource.transaction(async (manager) => {
          await manager.update(
            Contact,
            { id: contactId },
            { fullName: 'Written Under V1' },
          );
        }),
      );
      await isLocked;
      expect((await contactVersions(user.userId)).get(contactId)).toBe(2);

      // Let the final check go on: it must now wait for the writer's key lock, not destroy v1.
      await userLock.commitTransaction();
      await waitUntil('the final check waits for the writer', () =>
        waitingOnLock('%user_data_keys%key_version <>%FOR UPDATE%'),
      );
      expect(await keyVersions(user.userId)).toEqual([1, 2]);
      release();
      await write;
      held = undefined;

      // The check then saw the v1 value, another pass re-encrypted it, and only then was v1 destroyed.
      await waitUntil('the rotation finished', () => rotationDone(user.userId));
      expect(await keyVersions(user.userId)).toEqual([2]);
      expect(await contactVersions(user.userId)).toEqual(
        new Map([[contactId, 2]]),
      );
      expect(await listedNames(user)).toEqual(['Written Under V1']);
    } finally {
      held = undefined;
      for (const runner of [contactLock, userLock]) {
        if (runner.isTransactionActive)
          await runner.rollbackTransaction().catch(() => undefined);
        await runner.release();
      }
    }
  });

  it('refuses encrypted writes outside a transaction, and checks insert() and update() inside one', async () => {
    const user = await registerAndLogin(http());
    const created = await request(http())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send({ fullName: 'Kept As Is' });
    expect(created.status).toBe(201);
    const contactId = bodyOf<ContactDto>(created).id;
    const stale = await unlockKeyring(t, user.userId, user.password);
    await rotate(user);
    await waitUntil('the rotation finished', () => rotationDone(user.userId));

    const contacts = t.dataSource.getRepository(Contact);
    const fresh = await unlockKeyring(t, user.userId, user.password);
    await KeyContext.runWithKeyring(fresh.copy(), async () => {
      // Without a transaction no lock can last until the commit: refused, even with current keys.
      await expect(
        contacts.insert(
          contacts.create({ ownerId: user.userId, fullName: 'No Transaction' }),
        ),
      ).rejects.toBeInstanceOf(EncryptedWriteOutsideTransactionError);
      await expect(
        contacts.update({ id: contactId }, { notes: 'no transaction' }),
      ).rejects.toBeInstanceOf(EncryptedWriteOutsideTransactionError);
      // Clearing a column seals nothing: no key is involved, and the write is not checked.
      await expect(
        contacts.update({ id: contactId }, { notes: null }),
      ).resolves.toMatchObject({ affected: 1 });
    });
    await KeyContext.runWithKeyring(stale, async () => {
      await expect(
        t.dataSource.transaction((m) =>
          m.insert(
            Contact,
            m.create(Contact, {
              ownerId: user.userId,
              fullName: 'Stale Insert',
            }),
          ),
        ),
      ).rejects.toBeInstanceOf(RotationInProgressError);
      await expect(
        t.dataSource.transaction((m) =>
          m.update(Contact, { id: contactId }, { notes: 'stale note' }),
        ),
      ).rejects.toBeInstanceOf(RotationInProgressError);
    });
    await KeyContext.runWithKeyring(fresh, () =>
      t.dataSource.transaction((m) =>
        m.insert(
          Contact,
          m.create(Contact, { ownerId: user.userId, fullName: 'Fresh Insert' }),
        ),
      ),
    );

    expect([...(await contactVersions(user.userId)).values()]).toEqual([2, 2]);
    expect(await listedNames(user)).toEqual(['Fresh Insert', 'Kept As Is']);
  });

  it('checks at the outermost commit: a savepoint released (or failed and caught) inside does not use the check up', async () => {
    const user = await registerAndLogin(http());
    const stale = await unlockKeyring(t, user.userId, user.password);
    await rotate(user);
    await waitUntil('the rotation finished', () => rotationDone(user.userId));

    const write = KeyContext.runWithKeyring(stale, () =>
      t.dataSource.transaction(async (manager) => {
        await manager.save(
          manager.create(Contact, {
            ownerId: user.userId,
            fullName: 'Outer Write',
          }),
        );
        await manager
          .transaction(async (inner) => {
            await inner.save(
              inner.create(Contact, {
                ownerId: user.userId,
                fullName: 'Inner Write',
              }),
            );
          })
          .catch(() => undefined);
      }),
    );
    await expect(write).rejects.toBeInstanceOf(RotationInProgressError);
    expect(await contactVersions(user.userId)).toEqual(new Map());
  });

  it('checks a write whose keys are zeroed while it runs (a client that disconnects mid-request)', async () => {
    const user = await registerAndLogin(http());
    const stale = await unlockKeyring(t, user.userId, user.password);
    await rotate(user);
    await waitUntil('the rotation finished', () => rotationDone(user.userId));

    // Runs before the app's subscribers, right after the INSERT: the request scope ends there.
    let zeroAfterInsert = false;
    const dropKeys: EntitySubscriberInterface = {
      afterInsert() {
        if (zeroAfterInsert) KeyContext.release();
      },
    };
    t.dataSource.subscribers.unshift(dropKeys);
    try {
      zeroAfterInsert = true;
      const write = KeyContext.runWithKeyring(stale, () =>
        t.dataSource.transaction((manager) =>
          manager.save(
            manager.create(Contact, {
              ownerId: user.userId,
              fullName: 'Disconnected Writer',
            }),
          ),
        ),
      );
      await expect(write).rejects.toBeInstanceOf(RotationInProgressError);
    } finally {
      zeroAfterInsert = false;
      t.dataSource.subscribers.splice(
        t.dataSource.subscribers.indexOf(dropKeys),
        1,
      );
    }
    expect(await contactVersions(user.userId)).toEqual(new Map());
  });

  it('answers 409 problem+json to an API write whose keys a rotation retired while it ran, and serves the retry', async () => {
    const user = await registerAndLogin(http());
    const contact = {
      fullName: 'Mid Rotation',
      email: 'mid.rotation@example.org',
    };
    let inserted!: () => void;
    let release!: () => void;
    const isInserted = new Promise<void>((resolve) => (inserted = resolve));
    heldInsert = {
      userId: user.userId,
      inserted,
      release: new Promise<void>((resolve) => (release = resolve)),
    };
    try {
      // The request unlocked version 1 and is about to write; the rotation runs to its end meanwhile.
      const pending = request(http())
        .post('/v1/contacts')
        .set(...bearer(user.accessToken))
        .send(contact)
        .then((response) => response);
      await isInserted;
      heldInsert = undefined;
      await rotate(user);
      await waitUntil('the rotation destroyed version 1', () =>
        rotationDone(user.userId),
      );
      release();
      const response = await pending;
      expectProblem(response, 409, 'rotation_in_progress', [
        contact.fullName,
        contact.email,
        user.accessToken,
      ]);
      expect(await contactVersions(user.userId)).toEqual(new Map());
    } finally {
      heldInsert = undefined;
    }
    const retry = await request(http())
      .post('/v1/contacts')
      .set(...bearer(user.accessToken))
      .send(contact);
    expect(retry.status).toBe(201);
    expect([...(await contactVersions(user.userId)).values()]).toEqual([2]);
    expect(await listedNames(user)).toEqual([contact.fullName]);
  });
});
