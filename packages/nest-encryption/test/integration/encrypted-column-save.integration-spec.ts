import {
  AbstractLogger,
  Column,
  DataSource,
  Entity,
  LogLevel,
  LogMessage,
  PrimaryGeneratedColumn,
} from 'typeorm';
import * as aead from '@vault-pii/nest-encryption/crypto';
import { BlindIndex, EncryptedColumn } from '@vault-pii/nest-encryption';
import {
  createEncryptionTestingModule,
  createUserWithKeys,
  EncryptionTestingContext,
  TestUser,
  withUserKeys,
} from '@vault-pii/nest-encryption/testing';
import { lowerCaseTrimmed } from '../support/lower-case-trimmed';

// Counts seal() calls by wrapping the real one (ES module exports cannot be reassigned by spyOn).
jest.mock('@vault-pii/nest-encryption/crypto', () => {
  const actual = jest.requireActual<
    typeof import('@vault-pii/nest-encryption/crypto')
  >('@vault-pii/nest-encryption/crypto');
  return { ...actual, seal: jest.fn(actual.seal) };
});

/** save() of a loaded entity writes only what changed, and encrypts only that (typeorm-adapter.ts). */
@Entity({ name: 'cards' })
class Card {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ type: 'text', nullable: true })
  label: string | null;

  @EncryptedColumn()
  fullName: string | null;

  @EncryptedColumn()
  email: string | null;

  @BlindIndex({ source: 'email', normalize: lowerCaseTrimmed })
  emailIndex: Buffer | null;

  @EncryptedColumn()
  dateOfBirth: Date | null;

  @EncryptedColumn()
  address: { street: string; city: string } | null;
}

/** Records the SQL of every query, to see what an UPDATE sets. */
class QueryRecorder extends AbstractLogger {
  readonly queries: string[] = [];
  protected writeLog(
    _level: LogLevel,
    message: LogMessage | LogMessage[],
  ): void {
    for (const entry of Array.isArray(message) ? message : [message]) {
      if (entry.type === 'query') this.queries.push(String(entry.message));
    }
  }
}

describe('save() of a loaded entity with encrypted columns (real PostgreSQL)', () => {
  let context: EncryptionTestingContext;
  let dataSource: DataSource;
  const recorder = new QueryRecorder('all');
  const cards = () => dataSource.getRepository(Card);
  let owner: TestUser;
  const as = <T>(work: () => Promise<T>) => withUserKeys(owner, work);
  const updates = () =>
    recorder.queries.filter((sql) => sql.startsWith('UPDATE'));
  const raw = async (id: string) =>
    (
      await dataSource.query<Record<string, unknown>[]>(
        'SELECT * FROM cards WHERE id = $1',
        [id],
      )
    )[0];
  const sealSpy = jest.mocked(aead.seal);

  beforeAll(async () => {
    context = await createEncryptionTestingModule({
      entities: [Card],
      typeOrm: { logging: ['query'], logger: recorder },
    });
    dataSource = context.dataSource;
    owner = await createUserWithKeys(context);
  });
  afterAll(() => context?.close());
  beforeEach(() => {
    sealSpy.mockClear();
  });

  async function saved(): Promise<Card> {
    const card = await as(() =>
      cards().save(
        cards().create({
          ownerId: owner.userId,
          label: 'work',
          fullName: 'Ada Lovelace',
          email: 'ada@example.org',
          dateOfBirth: new Date('1815-12-10T00:00:00.000Z'),
          address: { street: '12 St James’s Square', city: 'London' },
        }),
      ),
    );
    sealSpy.mockClear();
    recorder.queries.length = 0;
    return card;
  }

  /** Loads the card, applies `change`, saves it; returns the stored row before and after. */
  async function loadChangeSave(id: string, change: (card: Card) => void) {
    const before = await raw(id);
    sealSpy.mockClear();
    recorder.queries.length = 0;
    await as(async () => {
      const card = await cards().findOneByOrFail({ id });
      change(card);
      await cards().save(card);
    });
    return { before, after: await raw(id) };
  }

  it('an unchanged entity: no UPDATE, no encryption, the stored ciphertexts untouched', async () => {
    const { id } = await saved();
    const { before, after } = await loadChangeSave(id, () => undefined);
    expect(updates()).toEqual([]);
    expect(sealSpy).not.toHaveBeenCalled();
    expect(after).toEqual(before);
  });

  it('values set again to equal values (a new Date, an equal object) count as unchanged', async () => {
    const { id } = await saved();
    const { before, after } = await loadChangeSave(id, (card) => {
      card.fullName = `${'Ada'} Lovelace`;
      card.dateOfBirth = new Date('1815-12-10T00:00:00.000Z');
      card.address = { street: '12 St James’s Square', city: 'London' };
    });
    expect(updates()).toEqual([]);
    expect(sealSpy).not.toHaveBeenCalled();
    expect(after).toEqual(before);
  });

  it('one changed encrypted column: only it is encrypted (once) and written', async () => {
    const { id } = await saved();
    const { before, after } = await loadChangeSave(id, (card) => {
      card.fullName = 'Augusta Ada King';
    });
    expect(sealSpy).toHaveBeenCalledTimes(1);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]).toMatch(
      /^UPDATE "cards" SET "fullName" = \$1 WHERE "id" = \$2$/,
    );
    expect(updates()[0]).not.toMatch(/"email"|"dateOfBirth"|"address"|"label"/);
    expect(after.fullName).not.toEqual(before.fullName);
    for (const column of [
      'email',
      'emailIndex',
      'dateOfBirth',
      'address',
      'label',
    ])
      expect(after[column]).toEqual(before[column]);
    const reloaded = await as(() => cards().findOneByOrFail({ id }));
    expect(reloaded.fullName).toBe('Augusta Ada King');
    expect(reloaded.address).toEqual({
      street: '12 St James’s Square',
      city: 'London',
    });
  });

  it('a changed source of a blind index: the column and its index are written, nothing else', async () => {
    const { id } = await saved();
    const { before, after } = await loadChangeSave(id, (card) => {
      card.email = 'ada@analytical.example';
    });
    expect(sealSpy).toHaveBeenCalledTimes(1);
    expect(after.email).not.toEqual(before.email);
    expect(after.emailIndex).not.toEqual(before.emailIndex);
    for (const column of ['fullName', 'dateOfBirth', 'address', 'label'])
      expect(after[column]).toEqual(before[column]);
  });

  it('a column set to null is written as NULL; a plain column changes alone', async () => {
    const { id } = await saved();
    const cleared = await loadChangeSave(id, (card) => {
      card.address = null;
    });
    expect(cleared.after.address).toBeNull();
    expect(sealSpy).not.toHaveBeenCalled();
    expect(cleared.after.fullName).toEqual(cleared.before.fullName);

    const relabelled = await loadChangeSave(id, (card) => {
      card.label = 'home';
    });
    expect(sealSpy).not.toHaveBeenCalled();
    expect(updates()[0]).not.toMatch(
      /"fullName"|"email"|"dateOfBirth"|"address"/,
    );
    expect(relabelled.after.label).toBe('home');
    expect(relabelled.after.fullName).toEqual(relabelled.before.fullName);
  });

  it('a null column given a value is encrypted and readable', async () => {
    const { id } = await saved();
    await loadChangeSave(id, (card) => {
      card.address = null;
    });
    const { after } = await loadChangeSave(id, (card) => {
      card.address = { street: '1 Infinite Loop', city: 'Cupertino' };
    });
    expect(sealSpy).toHaveBeenCalledTimes(1);
    expect(Buffer.isBuffer(after.address)).toBe(true);
    expect((await as(() => cards().findOneByOrFail({ id }))).address).toEqual({
      street: '1 Infinite Loop',
      city: 'Cupertino',
    });
  });
});
