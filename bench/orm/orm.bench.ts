/**
 * ORM level (SPEC §8): an entity with six PII columns shaped like a contact, in four variants
 * sharing one TypeORM 1.1.1 DataSource — a plaintext twin, ours (`@EncryptedColumn`) with the
 * default XChaCha20-Poly1305 and with AES-256-GCM, and the peer `typeorm-encrypted`. Operations,
 * as an app does them: `repository.save(array)` of 500 new entities at a time (insert),
 * `find({ where: { ownerId } })` returning 1,000 rows, `findOneBy({ id })`. Our variants run
 * each batch or query in its own key scope (`KeyContext.runWithKeyring`), as a request does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataSource, Repository } from 'typeorm';
import { AeadAlgorithm } from '../../src/crypto/aead';
import { configureEncryption, encryptionSettings } from '../../src/encrypted-column/encryption-settings';
import { KeyContext } from '../../src/key-vault/key-context';
import { Keyring } from '../../src/key-vault/keyring';
import { BenchSection } from '../support/bench-context';
import { interleave, ratio, renderTable, Summary, summaryCells } from '../support/stats';
import {
  BenchContact,
  BenchContactClass,
  EncryptedContact,
  EncryptedGcmContact,
  peerContactEntity,
  PII_COLUMNS,
  PlainContact,
} from './bench-contact.entities';
import { ensurePeerInstalled, peerTransformer } from './peer-typeorm-encrypted';

const ROWS_PER_OWNER = 1_000;
const BATCH = 500;

type VariantName = 'plaintext' | 'ours' | 'oursGcm' | 'peer';

const LABELS: Record<VariantName, string> = {
  plaintext: 'plaintext twin',
  ours: 'ours, XChaCha20-Poly1305 (default)',
  oursGcm: 'ours, AES-256-GCM',
  peer: 'peer typeorm-encrypted (AES-256-GCM)',
};

interface Owner {
  id: string;
  dataKey: Buffer;
}

interface Variant {
  repository: Repository<BenchContact>;
  /** Runs `work` as a request of `owner` would: ours inside a key scope with the owner's keyring. */
  asOwner<T>(owner: Owner, work: () => Promise<T>): Promise<T>;
}

export const runOrmBench: BenchSection = async (context) => {
  const rounds = context.quick ? 5 : 7;
  const insertRows = context.quick ? 1_000 : 10_000;
  const findRepeats = context.quick ? 3 : 20;
  const findOneRepeats = context.quick ? 100 : 1_000;

  ensurePeerInstalled(context.progress);
  const PeerContact = peerContactEntity(peerTransformer());
  const dataSource = new DataSource({
    type: 'postgres',
    url: await context.createDatabase('bench_orm'),
    entities: [PlainContact, EncryptedContact, EncryptedGcmContact, PeerContact],
    // A throw-away database of bench entities only.
    synchronize: true,
  });
  await dataSource.initialize();
  const defaultAlgorithm = encryptionSettings().algorithm;
  try {
    const variants: Record<VariantName, Variant> = {
      plaintext: plainVariant(dataSource, PlainContact),
      ours: encryptedVariant(dataSource, EncryptedContact, AeadAlgorithm.XChaCha20Poly1305),
      oursGcm: encryptedVariant(dataSource, EncryptedGcmContact, AeadAlgorithm.Aes256Gcm),
      peer: plainVariant(dataSource, PeerContact),
    };
    const perVariant = <R>(fn: (variant: Variant, name: VariantName) => R) =>
      Object.fromEntries(Object.entries(variants).map(([name, variant]) => [name, () => fn(variant as Variant, name as VariantName)])) as Record<
        VariantName,
        () => R
      >;

    // The find data set: one insert's worth of owners, written before timing (also the warm-up).
    context.progress(`orm: loading ${insertRows} rows per variant`);
    const findOwners = newOwners(insertRows);
    const savedIds: Record<VariantName, { id: string; owner: Owner }[]> = { plaintext: [], ours: [], oursGcm: [], peer: [] };
    for (const [name, variant] of Object.entries(variants) as [VariantName, Variant][]) {
      savedIds[name] = await insertAll(variant, findOwners);
      await checkRoundTrip(variant, savedIds[name][0], name);
    }
    const probes = (name: VariantName) => sample(savedIds[name], findOneRepeats);

    context.progress(`orm: insert ${insertRows} rows (save() of ${BATCH}) × ${rounds} rounds`);
    const insert = await interleave(
      rounds,
      perVariant(async (variant) => {
        const owners = newOwners(insertRows);
        return timed(insertRows, () => insertAll(variant, owners));
      }),
    );

    context.progress(`orm: find ${ROWS_PER_OWNER} rows by owner × ${findRepeats} × ${rounds} rounds`);
    const find1000 = await interleave(
      rounds,
      perVariant((variant) =>
        timed(findRepeats * ROWS_PER_OWNER, async () => {
          for (let i = 0; i < findRepeats; i++) {
            const owner = findOwners[i % findOwners.length];
            const rows = await variant.asOwner(owner, () => variant.repository.find({ where: { ownerId: owner.id } }));
            if (rows.length !== ROWS_PER_OWNER) throw new Error(`orm bench: found ${rows.length} rows, expected ${ROWS_PER_OWNER}`);
          }
        }),
      ),
    );

    context.progress(`orm: find one by id × ${findOneRepeats} × ${rounds} rounds`);
    const findOne = await interleave(
      rounds,
      perVariant((variant, name) => {
        const targets = probes(name);
        return timed(targets.length, async () => {
          for (const { id, owner } of targets) {
            const row = await variant.asOwner(owner, () => variant.repository.findOneBy({ id }));
            if (!row) throw new Error('orm bench: row not found');
          }
        });
      }),
    );

    const operations: [string, string, Record<VariantName, Summary>][] = [
      ['insert', `insert (save ${BATCH}/call)`, insert],
      ['find1000', `find ${ROWS_PER_OWNER} by owner`, find1000],
      ['findOne', 'find one by id', findOne],
    ];
    const rows = [['operation', 'variant', 'rows/s median', 'min', 'max', '÷ plaintext']];
    const extra: Record<string, number> = {};
    for (const [key, title, results] of operations) {
      for (const name of Object.keys(LABELS) as VariantName[]) {
        const summary = results[name];
        rows.push([name === 'plaintext' ? title : '', LABELS[name], ...summaryCells(summary), ratio(summary, results.plaintext).toFixed(2)]);
      }
      extra[`orm.${key}.gcmRatio`] = ratio(results.oursGcm, results.plaintext);
      if (key !== 'find1000') extra[`orm.${key}.peerRatio`] = ratio(results.peer, results.plaintext);
      extra[`orm.${key}.plaintextRowsPerSecond`] = results.plaintext.median;
    }
    return {
      metrics: {
        'orm.find1000.ratio': ratio(find1000.ours, find1000.plaintext),
        'orm.insert.ratio': ratio(insert.ours, insert.plaintext),
        'orm.findOne.ratio': ratio(findOne.ours, findOne.plaintext),
        'orm.find1000.peerRatio': ratio(find1000.peer, find1000.plaintext),
      },
      extra,
      report: renderTable(
        `ORM: 6 PII columns, TypeORM ${typeormVersion()}, rows/s over ${rounds} interleaved rounds ` +
          `(insert ${insertRows} rows; find ×${findRepeats}; find one ×${findOneRepeats})`,
        rows,
      ),
    };
  } finally {
    configureEncryption({ algorithm: defaultAlgorithm });
    await dataSource.destroy();
    // The bench reuses no owner after this section; their keys are dropped with them.
  }
};

function plainVariant(dataSource: DataSource, entity: BenchContactClass): Variant {
  return { repository: dataSource.getRepository<BenchContact>(entity), asOwner: (_owner, work) => work() };
}

/** Ours: `algorithm` is what new ciphertexts use (process-wide setting, set for the scope). */
function encryptedVariant(dataSource: DataSource, entity: BenchContactClass, algorithm: AeadAlgorithm): Variant {
  return {
    repository: dataSource.getRepository<BenchContact>(entity),
    asOwner: (owner, work) => {
      configureEncryption({ algorithm });
      const keyring = new Keyring(owner.id, new Map([[1, Buffer.from(owner.dataKey)]]), 1);
      return KeyContext.runWithKeyring(keyring, work);
    },
  };
}

function newOwners(rows: number): Owner[] {
  return Array.from({ length: Math.ceil(rows / ROWS_PER_OWNER) }, () => ({ id: randomUUID(), dataKey: randomBytes(32) }));
}

/** ROWS_PER_OWNER rows for each owner, saved BATCH at a time; returns every id with its owner. */
async function insertAll(variant: Variant, owners: Owner[]): Promise<{ id: string; owner: Owner }[]> {
  const ids: { id: string; owner: Owner }[] = [];
  for (const owner of owners) {
    for (let start = 0; start < ROWS_PER_OWNER; start += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => variant.repository.create(contactValues(owner.id, start + i)));
      const saved = await variant.asOwner(owner, () => variant.repository.save(batch));
      for (const row of saved) ids.push({ id: row.id, owner });
    }
  }
  return ids;
}

/** Values of typical lengths (names ~15 chars, a postal address, a sentence of notes). */
function contactValues(ownerId: string, n: number): Omit<BenchContact, 'id'> {
  return {
    ownerId,
    fullName: `Ada Lovelace ${n}`,
    email: `ada.lovelace.${n}@example.org`,
    phone: `+44 20 7946 ${String(n % 10_000).padStart(4, '0')}`,
    address: `${n} St James's Square, London SW1Y 4LE, United Kingdom`,
    notes: `Met at the Analytical Society dinner; prefers email. Follow up about note G (${n}).`,
    nationalId: `QQ ${String(n).padStart(6, '0')} C`,
  };
}

async function checkRoundTrip(variant: Variant, { id, owner }: { id: string; owner: Owner }, name: VariantName): Promise<void> {
  const row = await variant.asOwner(owner, () => variant.repository.findOneByOrFail({ id }));
  const expected = contactValues(owner.id, 0);
  for (const column of PII_COLUMNS) {
    if (row[column] !== expected[column]) throw new Error(`orm bench: ${name}.${column} did not round-trip`);
  }
}

function sample<T>(items: T[], count: number): T[] {
  return Array.from({ length: count }, () => items[Math.floor(Math.random() * items.length)]);
}

/** Rows per second of `work`, after a full GC so that one variant's garbage is not another's pause. */
async function timed(rows: number, work: () => Promise<unknown>): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const start = process.hrtime.bigint();
  await work();
  return rows / (Number(process.hrtime.bigint() - start) / 1e9);
}

function typeormVersion(): string {
  return (JSON.parse(readFileSync(join(dirname(require.resolve('typeorm')), 'package.json'), 'utf8')) as { version: string }).version;
}
