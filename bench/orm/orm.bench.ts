/**
 * ORM level (docs/benchmarks.md#targets): an entity with six PII columns shaped like a contact, in
 * four variants in one database (TypeORM 1.1.1) — a plaintext twin, ours (`@EncryptedColumn`) with
 * the default XChaCha20-Poly1305 and with AES-256-GCM, and the peer `typeorm-encrypted`.
 * Operations, as an app does them: `repository.save(array)` of 500 new entities at a time (insert),
 * `find({ where: { ownerId } })` returning 1,000 rows, `findOneBy({ id })`, and (beyond
 * docs/benchmarks.md#targets) an update: `findOneByOrFail`, change one field, `save()`. Our
 * variants run each batch or request-sized unit in its own key scope (`KeyContext.runWithKeyring`),
 * as a request does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataSource, DataSourceOptions, Repository } from 'typeorm';
import { AeadAlgorithm } from '@vault-pii/nest-encryption/crypto';
import {
  installEncryptedColumns,
  KeyContext,
  Keyring,
} from '@vault-pii/nest-encryption';
import { BenchSection } from '../support/bench-context';
import {
  interleave,
  ratio,
  renderTable,
  summarize,
  Summary,
  summaryCells,
} from '../support/stats';
import {
  BenchContact,
  BenchContactClass,
  BenchDataKey,
  EncryptedContact,
  EncryptedGcmContact,
  peerContactEntity,
  PII_COLUMNS,
  PlainContact,
} from './bench-contact.entities';
import { ensurePeerInstalled, peerTransformer } from './peer-typeorm-encrypted';

export const ROWS_PER_OWNER = 1_000;
const BATCH = 500;

export type VariantName = 'plaintext' | 'ours' | 'oursGcm' | 'peer';

const LABELS: Record<VariantName, string> = {
  plaintext: 'plaintext twin',
  ours: 'ours, XChaCha20-Poly1305 (default)',
  oursGcm: 'ours, AES-256-GCM',
  peer: 'peer typeorm-encrypted (AES-256-GCM)',
};

export interface Owner {
  id: string;
  dataKey: Buffer;
}

export interface Variant {
  repository: Repository<BenchContact>;
  /** Runs `work` as a request of `owner` would: ours inside a key scope with the owner's keyring. */
  asOwner<T>(owner: Owner, work: () => Promise<T>): Promise<T>;
}

export const runOrmBench: BenchSection = async (context) => {
  const rounds = context.quick ? 5 : 7;
  // Per round and variant: insert `insertSlices` × BATCH rows, find 1,000 rows `findSlices`
  // times, find one row `findOneSlices` × FIND_ONE_SLICE times.
  const insertSlices = context.quick ? 2 : 20;
  const findSlices = context.quick ? 3 : 20;
  const findOneSlices = context.quick ? 4 : 20;
  const FIND_ONE_SLICE = context.quick ? 25 : 50;
  // Not in docs/benchmarks.md#targets: load one row, change one PII field, save() — what
  // PATCH /v1/contacts/:id does.
  const updateSlices = context.quick ? 2 : 10;
  const UPDATE_SLICE = context.quick ? 8 : 25;

  ensurePeerInstalled(context.progress);
  const { close, variants, newOwners } = await openOrmVariants(
    await context.createDatabase('bench_orm'),
  );
  try {
    // The data set the reads run on, written before timing (also the warm-up): 1,000 rows per owner.
    const loadRows = Math.max(insertSlices * BATCH, 2 * ROWS_PER_OWNER);
    context.progress(`orm: loading ${loadRows} rows per variant`);
    const findOwners = await newOwners(loadRows);
    const savedIds = {} as Record<VariantName, SavedRow[]>;
    for (const [name, variant] of Object.entries(variants) as [
      VariantName,
      Variant,
    ][]) {
      savedIds[name] = await insertAll(variant, findOwners);
      await checkRoundTrip(variant, savedIds[name][0], name);
    }
    const time = (
      slices: number,
      rowsPerSlice: number,
      run: (
        variant: Variant,
        name: VariantName,
        slice: number,
      ) => Promise<void>,
    ) => timeInSlices(variants, rounds, slices, rowsPerSlice, run);

    context.progress(
      `orm: find ${ROWS_PER_OWNER} rows by owner × ${findSlices} × ${rounds} rounds`,
    );
    const find1000 = await time(
      findSlices,
      ROWS_PER_OWNER,
      async (variant, _name, slice) => {
        const owner = findOwners[slice % findOwners.length];
        const rows = await variant.asOwner(owner, () =>
          variant.repository.find({ where: { ownerId: owner.id } }),
        );
        if (rows.length !== ROWS_PER_OWNER)
          throw new Error(
            `orm bench: found ${rows.length} rows, expected ${ROWS_PER_OWNER}`,
          );
      },
    );

    context.progress(
      `orm: find one by id × ${findOneSlices * FIND_ONE_SLICE} × ${rounds} rounds`,
    );
    const findOne = await time(
      findOneSlices,
      FIND_ONE_SLICE,
      async (variant, name, slice) => {
        const saved = savedIds[name];
        for (let i = 0; i < FIND_ONE_SLICE; i++) {
          // The same spread of rows for every variant: a stride through the saved ids.
          const { id, owner } =
            saved[((slice * FIND_ONE_SLICE + i) * 7919) % saved.length];
          const row = await variant.asOwner(owner, () =>
            variant.repository.findOneBy({ id }),
          );
          if (!row) throw new Error('orm bench: row not found');
        }
      },
    );

    context.progress(
      `orm: find one, change one field, save() × ${updateSlices * UPDATE_SLICE} × ${rounds} rounds`,
    );
    const update = await time(
      updateSlices,
      UPDATE_SLICE,
      async (variant, name, slice) => {
        const saved = savedIds[name];
        for (let i = 0; i < UPDATE_SLICE; i++) {
          const { id, owner } =
            saved[((slice * UPDATE_SLICE + i) * 104_729) % saved.length];
          await variant.asOwner(owner, async () => {
            const row = await variant.repository.findOneByOrFail({ id });
            row.notes = `Called back on ${slice}/${i}; prefers email.`;
            await variant.repository.save(row);
          });
        }
      },
    );

    // Inserts last: they grow every table eightfold, and the reads above should measure the ORM and
    // the crypto on the 10,000 rows just written, not how much of four grown tables (the encrypted
    // ones 2.4× the plaintext's size) PostgreSQL's shared buffers still hold.
    context.progress(
      `orm: insert ${insertSlices * BATCH} rows (save() of ${BATCH}) × ${rounds} rounds`,
    );
    const insertOwners = await newOwners(
      rounds * insertSlices * ROWS_PER_OWNER,
    );
    const insert = await time(
      insertSlices,
      BATCH,
      async (variant, _name, slice) => {
        await insertBatch(variant, insertOwners[slice], 0);
      },
    );

    const operations: [string, string, Record<VariantName, Summary>][] = [
      ['insert', `insert (save ${BATCH}/call)`, insert],
      ['find1000', `find ${ROWS_PER_OWNER} by owner`, find1000],
      ['findOne', 'find one by id', findOne],
      ['update', 'find one, change a field, save', update],
    ];
    const rows = [
      ['operation', 'variant', 'rows/s median', 'min', 'max', '÷ plaintext'],
    ];
    const extra: Record<string, number> = {};
    for (const [key, title, results] of operations) {
      for (const name of Object.keys(LABELS) as VariantName[]) {
        const summary = results[name];
        rows.push([
          name === 'plaintext' ? title : '',
          LABELS[name],
          ...summaryCells(summary),
          ratio(summary, results.plaintext).toFixed(2),
        ]);
      }
      if (key === 'update')
        extra['orm.update.ratio'] = ratio(results.ours, results.plaintext);
      extra[`orm.${key}.gcmRatio`] = ratio(results.oursGcm, results.plaintext);
      if (key !== 'find1000')
        extra[`orm.${key}.peerRatio`] = ratio(results.peer, results.plaintext);
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
          `(insert ${insertSlices * BATCH} rows; find 1,000 ×${findSlices}; find one ×${findOneSlices * FIND_ONE_SLICE}; update ×${updateSlices * UPDATE_SLICE}), in slices interleaved by variant`,
        rows,
      ),
    };
  } finally {
    await close();
    // The bench reuses no owner after this section; their keys are dropped with them.
  }
};

/**
 * The four variants' repositories over `url` (a throw-away database), with the encrypted columns
 * installed as the app installs them — the write guard included (`KeyVersionWriteGuard`, one
 * locking query per transaction that writes encrypted values) over a table of the owners' key
 * versions, as `user_data_keys` is. The algorithm is a DataSource's setting, so the AES-256-GCM
 * variant runs on a second DataSource over the same tables. `newOwners` makes owners with their
 * key row.
 */
export async function openOrmVariants(url: string): Promise<{
  close: () => Promise<void>;
  variants: Record<VariantName, Variant>;
  newOwners: (rows: number) => Promise<Owner[]>;
}> {
  const PeerContact = peerContactEntity(peerTransformer());
  const options: DataSourceOptions = {
    type: 'postgres',
    url,
    entities: [
      PlainContact,
      EncryptedContact,
      EncryptedGcmContact,
      PeerContact,
      BenchDataKey,
    ],
  };
  // A throw-away database of bench entities only: synchronize is acceptable.
  const dataSource = await new DataSource({
    ...options,
    synchronize: true,
  }).initialize();
  const gcmDataSource = await new DataSource(options).initialize();
  const liveKeySql =
    'SELECT 1 FROM bench_data_keys WHERE owner_id = $1 AND key_version = $2 FOR KEY SHARE';
  installEncryptedColumns(dataSource, {
    algorithm: AeadAlgorithm.XChaCha20Poly1305,
    liveKeySql,
  });
  installEncryptedColumns(gcmDataSource, {
    algorithm: AeadAlgorithm.Aes256Gcm,
    liveKeySql,
  });
  return {
    close: async () => {
      await gcmDataSource.destroy();
      await dataSource.destroy();
    },
    newOwners: async (rows) => {
      const owners = Array.from(
        { length: Math.ceil(rows / ROWS_PER_OWNER) },
        () => ({ id: randomUUID(), dataKey: randomBytes(32) }),
      );
      await dataSource
        .getRepository(BenchDataKey)
        .insert(owners.map((owner) => ({ ownerId: owner.id, keyVersion: 1 })));
      return owners;
    },
    variants: {
      plaintext: plainVariant(dataSource, PlainContact),
      ours: encryptedVariant(dataSource, EncryptedContact),
      oursGcm: encryptedVariant(gcmDataSource, EncryptedGcmContact),
      peer: plainVariant(dataSource, PeerContact),
    },
  };
}

function plainVariant(
  dataSource: DataSource,
  entity: BenchContactClass,
): Variant {
  return {
    repository: dataSource.getRepository<BenchContact>(entity),
    asOwner: (_owner, work) => work(),
  };
}

/** Ours: new ciphertexts use the algorithm `dataSource` was installed with. */
function encryptedVariant(
  dataSource: DataSource,
  entity: BenchContactClass,
): Variant {
  return {
    repository: dataSource.getRepository<BenchContact>(entity),
    asOwner: (owner, work) => {
      const keyring = new Keyring(
        owner.id,
        new Map([[1, Buffer.from(owner.dataKey)]]),
        1,
      );
      return KeyContext.runWithKeyring(keyring, work);
    },
  };
}

export interface SavedRow {
  id: string;
  owner: Owner;
}

/** ROWS_PER_OWNER rows for each owner, saved BATCH at a time; returns every id with its owner. */
export async function insertAll(
  variant: Variant,
  owners: Owner[],
): Promise<SavedRow[]> {
  const saved: SavedRow[] = [];
  for (const owner of owners) {
    for (let start = 0; start < ROWS_PER_OWNER; start += BATCH)
      saved.push(...(await insertBatch(variant, owner, start)));
  }
  return saved;
}

/** One `repository.save()` of BATCH new entities of `owner`, numbered from `start`. */
async function insertBatch(
  variant: Variant,
  owner: Owner,
  start: number,
): Promise<SavedRow[]> {
  const batch = Array.from({ length: BATCH }, (_, i) =>
    variant.repository.create(contactValues(owner.id, start + i)),
  );
  const saved = await variant.asOwner(owner, () =>
    variant.repository.save(batch),
  );
  return saved.map((row) => ({ id: row.id, owner }));
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

async function checkRoundTrip(
  variant: Variant,
  { id, owner }: SavedRow,
  name: VariantName,
): Promise<void> {
  const row = await variant.asOwner(owner, () =>
    variant.repository.findOneByOrFail({ id }),
  );
  const expected = contactValues(owner.id, 0);
  for (const column of PII_COLUMNS) {
    if (row[column] !== expected[column])
      throw new Error(`orm bench: ${name}.${column} did not round-trip`);
  }
}

/**
 * Each variant's rows/s per round. A round is `slices` slices and each slice runs every variant
 * once (`interleave` rotates their order), so a burst of noise from the shared machine lands on
 * all variants alike; a round's rate is its rows over the summed time of its slices. No GC is
 * forced between slices: a forced one would take the collection of a slice's garbage out of its
 * time (all of it for a variant whose garbage fits the young generation); left alone, a
 * scavenge falls in a slice with a probability that grows with what the slice allocated.
 */
async function timeInSlices(
  variants: Record<VariantName, Variant>,
  rounds: number,
  slices: number,
  rowsPerSlice: number,
  run: (variant: Variant, name: VariantName, slice: number) => Promise<void>,
): Promise<Record<VariantName, Summary>> {
  const names = Object.keys(variants) as VariantName[];
  const seconds = await interleave(
    rounds * slices,
    Object.fromEntries(
      names.map((name) => [
        name,
        async (slice: number) => {
          const start = process.hrtime.bigint();
          await run(variants[name], name, slice);
          return Number(process.hrtime.bigint() - start) / 1e9;
        },
      ]),
    ) as Record<VariantName, (slice: number) => Promise<number>>,
  );
  return Object.fromEntries(
    names.map((name) => {
      const perRound = Array.from({ length: rounds }, (_, round) => {
        const roundSeconds = seconds[name].samples
          .slice(round * slices, (round + 1) * slices)
          .reduce((a, b) => a + b, 0);
        return (slices * rowsPerSlice) / roundSeconds;
      });
      return [name, summarize(perRound)];
    }),
  ) as Record<VariantName, Summary>;
}

function typeormVersion(): string {
  return (
    JSON.parse(
      readFileSync(
        join(dirname(require.resolve('typeorm')), 'package.json'),
        'utf8',
      ),
    ) as { version: string }
  ).version;
}
