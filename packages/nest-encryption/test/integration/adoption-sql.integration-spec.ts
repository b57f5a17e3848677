import {
  AdoptableSourceType,
  decodeAdoptedPlaintext,
  encodeAdoptedPlaintext,
  plaintextAdoptionSql,
} from '@vault-pii/nest-encryption';
import type { Client } from 'pg';
import {
  createTestDatabase,
  TestDatabase,
  withPgClient,
} from '@vault-pii/nest-encryption/testing';

/**
 * `plaintextAdoptionSql` on real PostgreSQL: each source type's values, converted in place, read
 * back as what `encodeValue` writes (byte for byte, except JSON, whose text PostgreSQL formats its
 * own way), whatever the session's time zone.
 */
interface Case {
  from: AdoptableSourceType;
  /** SQL literals (cast to `from` on insert) and the JavaScript value each must read as. */
  values: [literal: string, expected: unknown][];
}

const utc = (iso: string) => new Date(iso);

const CASES: Case[] = [
  {
    from: 'text',
    values: [
      ["'Zoë ☃ 李 𝔸'", 'Zoë ☃ 李 𝔸'],
      ["''", ''],
      ["E'it''s\\n\\ttwo lines'", "it's\n\ttwo lines"],
      ['NULL', null],
    ],
  },
  {
    from: 'varchar',
    values: [
      ["'Ada Lovelace'", 'Ada Lovelace'],
      ['NULL', null],
    ],
  },
  {
    from: 'jsonb',
    values: [
      [`'{"a": [1, "é"], "n": null}'`, { a: [1, 'é'], n: null }],
      [`'"a string"'`, 'a string'],
      ["'[]'", []],
      ["'12.5'", 12.5],
      // A JSON null reads as null either way; stored as NULL, as the transformer writes it.
      ["'null'", null],
      ['NULL', null],
    ],
  },
  {
    from: 'json',
    values: [
      [`' { "b" : 2, "b2": [true] } '`, { b: 2, b2: [true] }],
      ["'null'", null],
    ],
  },
  {
    from: 'integer',
    values: [
      ['0', 0],
      ['-5', -5],
      ['2147483647', 2147483647],
      ["'-2147483648'", -2147483648],
    ],
  },
  {
    from: 'bigint',
    values: [
      ['9007199254740991', Number.MAX_SAFE_INTEGER],
      ['-9007199254740991', -Number.MAX_SAFE_INTEGER],
    ],
  },
  {
    from: 'numeric',
    values: [
      ['0.1', 0.1],
      ['-0', 0],
      ['1234567890123456', 1234567890123456],
      ["'Infinity'", Infinity],
      ['NULL', null],
    ],
  },
  {
    from: 'double precision',
    values: [
      ["'-0'", -0],
      ['0', 0],
      ['1e308', 1e308],
      ['5e-324', 5e-324],
      ["'-Infinity'", -Infinity],
    ],
  },
  {
    from: 'boolean',
    values: [
      ['true', true],
      ['false', false],
      ['NULL', null],
    ],
  },
  {
    // A date is midnight UTC of its day, whatever the session's zone.
    from: 'date',
    values: [
      ["'1815-12-10'", utc('1815-12-10T00:00:00Z')],
      ["'2024-02-29'", utc('2024-02-29T00:00:00Z')],
    ],
  },
  {
    from: 'timestamptz',
    values: [
      ["'2024-03-31 02:30:00+02'", utc('2024-03-31T00:30:00Z')],
      ["'2000-01-01 00:00:00.123456+05:30'", utc('1999-12-31T18:30:00.123Z')],
      // Microseconds are cut as node-postgres cuts them reading a timestamptz: towards the past.
      ["'1969-12-31 23:59:59.9995+00'", new Date(-1)],
    ],
  },
];

/** A value of each type that converts, beside the one that does not. */
const CONVERTIBLE: Partial<Record<AdoptableSourceType, string>> = {
  'double precision': '1',
  numeric: '1',
  bigint: '1',
  date: "'2000-01-01'",
  timestamptz: "'2000-01-01 00:00+00'",
};

function tableOf(from: string): string {
  return `source_${from.replace(/ /g, '_')}`;
}

async function seed(
  client: Client,
  from: string,
  literals: string[],
): Promise<void> {
  const table = tableOf(from);
  await client.query(
    `CREATE TABLE ${table} (id serial PRIMARY KEY, c ${from})`,
  );
  for (const literal of literals)
    await client.query(`INSERT INTO ${table} (c) VALUES (${literal}::${from})`);
}

async function columnType(client: Client, table: string): Promise<string> {
  const { rows } = await client.query<{ type: string }>(
    `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'c'`,
    [table],
  );
  return rows[0].type;
}

describe('plaintextAdoptionSql on PostgreSQL', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it.each(CASES.map((testCase) => [testCase.from, testCase] as const))(
    'converts %s values into what encodeValue writes after the marker',
    async (from, { values }) => {
      await withPgClient(database.url, async (client) => {
        // A zone far from UTC, on the far side of the date line, with half-hour offsets.
        await client.query("SET TimeZone = 'Pacific/Chatham'");
        await seed(
          client,
          from,
          values.map(([literal]) => literal),
        );
        const table = tableOf(from);
        await client.query(plaintextAdoptionSql({ table, column: 'c', from }));
        expect(await columnType(client, table)).toBe('bytea');
        const { rows } = await client.query<{ c: Buffer | null }>(
          `SELECT c FROM ${table} ORDER BY id`,
        );
        const read = rows.map(({ c }) =>
          c === null ? null : decodeAdoptedPlaintext(c),
        );
        expect(read).toEqual(values.map(([, expected]) => expected));
        rows.forEach(({ c }, i) => {
          const expected = values[i][1];
          if (expected === null) return expect(c).toBeNull();
          // toEqual does not tell -0 from 0.
          if (typeof expected === 'number')
            expect(Object.is(read[i], expected)).toBe(true);
          if (from !== 'json' && from !== 'jsonb')
            expect(c).toEqual(encodeAdoptedPlaintext(expected));
        });
      });
    },
  );

  it('drops the default a column had (no default survives in plaintext)', async () => {
    await withPgClient(database.url, async (client) => {
      await client.query(
        "CREATE TABLE with_default (id serial PRIMARY KEY, c text DEFAULT 'unknown')",
      );
      await client.query('INSERT INTO with_default DEFAULT VALUES');
      await client.query(
        plaintextAdoptionSql({
          table: 'with_default',
          column: 'c',
          from: 'text',
        }),
      );
      const { rows } = await client.query<{ c: Buffer; d: string | null }>(
        `SELECT c, (SELECT column_default FROM information_schema.columns WHERE table_name = 'with_default' AND column_name = 'c') AS d FROM with_default`,
      );
      expect(decodeAdoptedPlaintext(rows[0].c)).toBe('unknown');
      expect(rows[0].d).toBeNull();
    });
  });

  it.each<[AdoptableSourceType, string, RegExp]>([
    ['double precision', "'NaN'", /some rows hold NaN/],
    ['numeric', "'NaN'", /NaN, or numbers a JavaScript number cannot hold/],
    [
      'numeric',
      '0.12345678901234567',
      /numbers a JavaScript number cannot hold exactly/,
    ],
    ['bigint', '9007199254740992', /integers beyond ±\(2\^53 − 1\)/],
    ['bigint', "'-9223372036854775808'", /integers beyond/],
    ['date', "'infinity'", /infinite dates/],
    ['timestamptz', "'-infinity'", /infinite timestamps/],
    ['date', "'294276-01-01'", /outside a JavaScript Date/],
  ])(
    'refuses a %s column holding %s, and changes nothing',
    async (from, literal, message) => {
      await withPgClient(database.url, async (client) => {
        const table = `refused_${Math.random().toString(36).slice(2, 10)}`;
        await client.query(
          `CREATE TABLE ${table} (id serial PRIMARY KEY, c ${from})`,
        );
        await client.query(
          `INSERT INTO ${table} (c) VALUES (${CONVERTIBLE[from]}::${from}), (${literal}::${from})`,
        );
        await expect(
          client.query(plaintextAdoptionSql({ table, column: 'c', from })),
        ).rejects.toThrow(message);
        expect(await columnType(client, table)).toBe(
          from === 'timestamptz' ? 'timestamp with time zone' : from,
        );
      });
    },
  );
});
