import {
  anyStaleSql,
  keyVersionBytes,
  RotatedTable,
  plaintextSql,
  rotationSqlFor,
  selectStaleSql,
  updateSql,
} from './rotation-sql';

/** PostgreSQL identifier quoting, as TypeORM's PostgresDriver.escape does it. */
const pg = (name: string) => `"${name.replaceAll('"', '""')}"`;

const table = (overrides: Partial<RotatedTable> = {}): RotatedTable => ({
  tablePath: ['notes'],
  primaryColumn: { databaseName: 'id', sqlType: 'uuid' },
  ownerColumn: 'owner_id',
  encryptedColumns: [{ databaseName: 'body' }],
  blindIndexes: [],
  ...overrides,
});

describe('rotation SQL', () => {
  it('one encrypted column, no blind index', () => {
    expect(rotationSqlFor(table(), pg)).toEqual({
      selectStale:
        'SELECT "id", "body" FROM "notes" WHERE "owner_id" = $1 AND (substring("body" from 3 for 4) <> $2) LIMIT $3 FOR UPDATE',
      anyStale:
        'SELECT 1 FROM "notes" WHERE "owner_id" = $1 AND (substring("body" from 3 for 4) <> $2) LIMIT 1',
      update:
        'UPDATE "notes" AS t SET "body" = v."body" ' +
        'FROM unnest($1::uuid[], $2::bytea[]) AS v("id", "body") WHERE t."id" = v."id"',
    });
  });

  it('several encrypted columns with blind indexes: any stale column selects the row; the indexes are written, never read', () => {
    const contacts = table({
      tablePath: ['contacts'],
      encryptedColumns: [
        { databaseName: 'full_name' },
        { databaseName: 'email' },
        { databaseName: 'phone' },
      ],
      blindIndexes: [
        { databaseName: 'email_index' },
        { databaseName: 'phone_index' },
      ],
    });
    const stale =
      '"owner_id" = $1 AND (substring("full_name" from 3 for 4) <> $2 OR ' +
      'substring("email" from 3 for 4) <> $2 OR substring("phone" from 3 for 4) <> $2)';
    expect(selectStaleSql(contacts, pg)).toBe(
      `SELECT "id", "full_name", "email", "phone" FROM "contacts" WHERE ${stale} LIMIT $3 FOR UPDATE`,
    );
    expect(anyStaleSql(contacts, pg)).toBe(
      `SELECT 1 FROM "contacts" WHERE ${stale} LIMIT 1`,
    );
    expect(updateSql(contacts, pg)).toBe(
      'UPDATE "contacts" AS t SET "full_name" = v."full_name", "email" = v."email", "phone" = v."phone", ' +
        '"email_index" = v."email_index", "phone_index" = v."phone_index" ' +
        'FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) ' +
        'AS v("id", "full_name", "email", "phone", "email_index", "phone_index") WHERE t."id" = v."id"',
    );
  });

  it('one encrypted column with a blind index', () => {
    const users = table({
      tablePath: ['users'],
      ownerColumn: 'id',
      encryptedColumns: [{ databaseName: 'email' }],
      blindIndexes: [{ databaseName: 'email_index' }],
    });
    expect(updateSql(users, pg)).toBe(
      'UPDATE "users" AS t SET "email" = v."email", "email_index" = v."email_index" ' +
        'FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS v("id", "email", "email_index") WHERE t."id" = v."id"',
    );
    expect(selectStaleSql(users, pg)).not.toContain('email_index');
  });

  it('qualifies the table with its schema, each part quoted on its own', () => {
    const sql = rotationSqlFor(table({ tablePath: ['crm', 'notes'] }), pg);
    expect(sql.selectStale).toContain(' FROM "crm"."notes" WHERE ');
    expect(sql.anyStale).toContain(' FROM "crm"."notes" WHERE ');
    expect(sql.update).toMatch(/^UPDATE "crm"\."notes" AS t SET /);
  });

  it('casts the primary keys to their own SQL type', () => {
    const sql = updateSql(
      table({ primaryColumn: { databaseName: 'id', sqlType: 'integer' } }),
      pg,
    );
    expect(sql).toContain('unnest($1::integer[], $2::bytea[])');
  });

  it('quotes odd names (quotes, spaces, case, keywords, dots) through escape and nowhere else', () => {
    const odd = table({
      tablePath: ['My Schema', 'we"ird.table'],
      primaryColumn: { databaseName: 'Key', sqlType: 'uuid' },
      ownerColumn: 'user',
      encryptedColumns: [{ databaseName: 'a"b' }, { databaseName: 'select' }],
      blindIndexes: [{ databaseName: 'Index Of a"b' }],
    });
    const sql = rotationSqlFor(odd, pg);
    expect(sql.selectStale).toBe(
      'SELECT "Key", "a""b", "select" FROM "My Schema"."we""ird.table" ' +
        'WHERE "user" = $1 AND (substring("a""b" from 3 for 4) <> $2 OR substring("select" from 3 for 4) <> $2) LIMIT $3 FOR UPDATE',
    );
    expect(sql.update).toBe(
      'UPDATE "My Schema"."we""ird.table" AS t SET "a""b" = v."a""b", "select" = v."select", "Index Of a""b" = v."Index Of a""b" ' +
        'FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[]) AS v("Key", "a""b", "select", "Index Of a""b") ' +
        'WHERE t."Key" = v."Key"',
    );

    // Every identifier goes through escape: with a marker escape, none is left bare.
    const marked = rotationSqlFor(odd, (name) => `«${name}»`);
    for (const statement of [
      marked.selectStale,
      marked.anyStale,
      marked.update,
    ]) {
      const bare = statement.replace(/«[^»]*»/g, '');
      for (const name of [
        'My Schema',
        'we"ird.table',
        'Key',
        'user',
        'a"b',
        'select',
        'Index Of',
      ])
        expect(bare).not.toContain(name);
    }
  });

  it('numbers the update parameters after the primary keys: one per encrypted column, then one per blind index', () => {
    for (const [encrypted, indexes] of [
      [1, 0],
      [1, 1],
      [3, 2],
      [6, 0],
    ]) {
      const sql = updateSql(
        table({
          encryptedColumns: Array.from({ length: encrypted }, (_, i) => ({
            databaseName: `c${i}`,
          })),
          blindIndexes: Array.from({ length: indexes }, (_, i) => ({
            databaseName: `i${i}`,
          })),
        }),
        pg,
      );
      const numbers = [...sql.matchAll(/\$(\d+)/g)].map(([, n]) => Number(n));
      expect(numbers).toEqual(
        Array.from({ length: 1 + encrypted + indexes }, (_, i) => i + 1),
      );
    }
  });
});

describe('rotation SQL for adopted plaintext (the 0x00 marker)', () => {
  it('has no plaintext statements when no column adopts plaintext', () => {
    const sql = rotationSqlFor(
      table({ encryptedColumns: [{ databaseName: 'body', adopting: false }] }),
      pg,
    );
    expect(sql.selectPlaintext).toBeUndefined();
    expect(sql.anyPlaintext).toBeUndefined();
  });

  it('looks for the marker in adopting columns only, selects every encrypted column, and rewrites with the same update', () => {
    const notes = table({
      encryptedColumns: [
        { databaseName: 'title', adopting: true },
        { databaseName: 'body' },
        { databaseName: 'tags', adopting: true },
      ],
      blindIndexes: [{ databaseName: 'title_index' }],
    });
    const plaintext =
      `"owner_id" = $1 AND (substring("title" from 1 for 1) = '\\x00'::bytea OR ` +
      `substring("tags" from 1 for 1) = '\\x00'::bytea)`;
    expect(plaintextSql(notes, pg)).toEqual({
      select: `SELECT "id", "title", "body", "tags" FROM "notes" WHERE ${plaintext} LIMIT $2 FOR UPDATE`,
      any: `SELECT 1 FROM "notes" WHERE ${plaintext} LIMIT 1`,
    });
    // The SQL literal is the one byte 0x00 in bytea's hex input form.
    expect(rotationSqlFor(notes, pg).anyPlaintext).toContain(
      String.raw`'\x00'::bytea`,
    );
    // A stale-version pass over the same table still looks at every column.
    expect(selectStaleSql(notes, pg)).toContain(
      'substring("body" from 3 for 4) <> $2',
    );
  });
});

describe('keyVersionBytes', () => {
  it('is the 4 big-endian bytes an envelope carries for its key version', () => {
    expect(keyVersionBytes(1)).toEqual(Buffer.from([0, 0, 0, 1]));
    expect(keyVersionBytes(0x01020304)).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(keyVersionBytes(0xffffffff)).toEqual(
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
    );
  });
});
