import {
  ADOPTABLE_SOURCE_TYPES,
  endPlaintextAdoptionSql,
  plaintextAdoptionSql,
} from './plaintext-adoption-sql';

// What the SQL does to real values is tested on PostgreSQL (test/integration/adoption-sql.integration-spec.ts).
describe('plaintextAdoptionSql', () => {
  it('converts the column in place to bytea, NULL staying NULL, its default dropped', () => {
    expect(
      plaintextAdoptionSql({ table: 'contacts', column: 'note', from: 'text' }),
    ).toBe(
      'ALTER TABLE "contacts" ALTER COLUMN "note" DROP DEFAULT, ALTER COLUMN "note" TYPE bytea USING ' +
        `CASE WHEN "note" IS NULL THEN NULL ELSE '\\x0001'::bytea || convert_to("note"::text, 'UTF8') END;`,
    );
  });

  it('checks first, in a DO block, for rows that cannot convert exactly', () => {
    const sql = plaintextAdoptionSql({
      table: 'legacy.people',
      column: 'score',
      from: 'double precision',
    });
    expect(sql).toMatch(
      /^DO \$adoption\$ BEGIN IF EXISTS \(SELECT 1 FROM "legacy"\."people" WHERE "score" = 'NaN'::float8\) THEN RAISE EXCEPTION 'plaintext adoption of legacy\.people\.score \(double precision\) refused: some rows hold NaN/,
    );
    expect(sql).toContain('\nALTER TABLE "legacy"."people"');
  });

  it('has a conversion for every type it lists', () => {
    for (const from of ADOPTABLE_SOURCE_TYPES)
      expect(plaintextAdoptionSql({ table: 't', column: 'c', from })).toContain(
        'TYPE bytea USING',
      );
  });

  it('quotes names, so a name cannot end the statement', () => {
    const sql = plaintextAdoptionSql({
      table: 'my"table',
      column: 'a"; DROP TABLE users; --',
      from: 'text',
    });
    expect(sql).toContain('"my""table"');
    expect(sql).toContain('"a""; DROP TABLE users; --"');
  });

  it.each<[string, RegExp]>([
    ['timestamp', /a timestamp without time zone names no instant/],
    ['real', /convert it to double precision first/],
    [
      'money',
      /cannot adopt a column of type "money"; it must be one of text, varchar/,
    ],
    ['TEXT', /cannot adopt a column of type "TEXT"/],
    ['constructor', /cannot adopt a column of type "constructor"/],
  ])('refuses the source type %s with the route to take', (from, message) => {
    expect(() =>
      plaintextAdoptionSql({
        table: 't',
        column: 'c',
        from: from as 'text',
      }),
    ).toThrow(message);
  });

  it('refuses empty names and three-part table names', () => {
    expect(() =>
      plaintextAdoptionSql({ table: '', column: 'c', from: 'text' }),
    ).toThrow('a table or column name is empty');
    expect(() =>
      plaintextAdoptionSql({ table: 't', column: '', from: 'text' }),
    ).toThrow('a table or column name is empty');
    expect(() =>
      plaintextAdoptionSql({ table: 'a.b.c', column: 'c', from: 'text' }),
    ).toThrow('name a table as "table" or "schema.table"');
  });
});

describe('endPlaintextAdoptionSql', () => {
  it('raises while any listed column holds a marked value', () => {
    expect(endPlaintextAdoptionSql('contacts', ['note', 'phone'])).toBe(
      `DO $adoption$ BEGIN IF EXISTS (SELECT 1 FROM "contacts" WHERE substring("note" from 1 for 1) = '\\x00'::bytea ` +
        `OR substring("phone" from 1 for 1) = '\\x00'::bytea) THEN RAISE EXCEPTION ` +
        "'plaintext adoption of contacts (note, phone) is not finished: rows still hold plaintext; " +
        "see `nest-encryption adoption status`'; END IF; END $adoption$;",
    );
  });

  it("escapes quotes and RAISE's % in the message", () => {
    expect(endPlaintextAdoptionSql("o'brien", ['100%'])).toContain(
      "'plaintext adoption of o''brien (100%%) is not finished",
    );
  });

  it('refuses no column', () => {
    expect(() => endPlaintextAdoptionSql('contacts', [])).toThrow(
      'name at least one column',
    );
  });
});
