import { DataSource, QueryBuilder, SelectQueryBuilder } from 'typeorm';
import { SubjectChangedColumnsComputer } from 'typeorm/persistence/SubjectChangedColumnsComputer.js';
import {
  assertVerifiedTypeOrmVersion,
  installedTypeOrmVersion,
  installTypeOrmAdapter,
  isBuildingWhereClause,
  isComputingChanges,
  transactionDepth,
  VERIFIED_TYPEORM,
  wipeAfterDiff,
} from './typeorm-adapter';

/** Pins each TypeORM internal the adapter relies on; re-run (and re-verify) before widening VERIFIED_TYPEORM. */
describe('TypeORM version check', () => {
  it('accepts the installed version, which lies in the verified range', () => {
    expect(() =>
      assertVerifiedTypeOrmVersion(installedTypeOrmVersion()),
    ).not.toThrow();
    expect(installedTypeOrmVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each(['0.3.27', '1.1.0', '1.2.0', '2.0.0', '1.2.0-dev.1', 'next'])(
    'refuses %s at start-up, naming both versions',
    (version) => {
      expect(() => assertVerifiedTypeOrmVersion(version)).toThrow(
        `typeorm ${version} is installed, but the encrypted columns' TypeORM adapter (src/encrypted-column/typeorm-adapter.ts) was verified against >=${VERIFIED_TYPEORM.from} <${VERIFIED_TYPEORM.below} only`,
      );
    },
  );

  it('accepts the ends of the range as documented: from inclusive, below exclusive', () => {
    expect(() =>
      assertVerifiedTypeOrmVersion(VERIFIED_TYPEORM.from),
    ).not.toThrow();
    expect(() =>
      assertVerifiedTypeOrmVersion(VERIFIED_TYPEORM.below),
    ).toThrow();
  });
});

describe('where-clause guard', () => {
  beforeAll(() => installTypeOrmAdapter());

  it('is on while SelectQueryBuilder.buildWhere runs, and off after, even when it throws', () => {
    let during = false;
    const metadata = {
      findColumnWithPropertyPathStrict: () => {
        during = isBuildingWhereClause();
        throw new Error('stop');
      },
    };
    const buildWhere = (
      SelectQueryBuilder.prototype as unknown as {
        buildWhere: (...args: unknown[]) => string;
      }
    ).buildWhere;
    expect(() =>
      buildWhere.call({}, { fullName: 'Ada' }, metadata, 'person'),
    ).toThrow('stop');
    expect(during).toBe(true);
    expect(isBuildingWhereClause()).toBe(false);
  });

  it('is on while QueryBuilder.getPredicates reads each value, and off between the values it yields', () => {
    const seen: boolean[] = [];
    const where = {
      get fullName() {
        seen.push(isBuildingWhereClause());
        return 'Ada';
      },
    };
    const getPredicates = (
      QueryBuilder.prototype as unknown as {
        getPredicates: (where: object) => Iterable<unknown>;
      }
    ).getPredicates;
    const self = {
      expressionMap: {
        mainAlias: { hasMetadata: false },
        aliasNamePrefixingEnabled: false,
      },
    };
    for (const predicate of getPredicates.call(self, where)) {
      expect(predicate).toEqual(['fullName', 'Ada']);
      expect(isBuildingWhereClause()).toBe(false);
    }
    expect(seen).toEqual([true]);
  });
});

describe('transaction depth', () => {
  it("reads a real PostgreSQL query runner's depth (0 before any transaction)", async () => {
    // No connection is made: the runner is only constructed.
    const runner = new DataSource({
      type: 'postgres',
      url: 'postgres://unused@127.0.0.1:1/unused',
    }).createQueryRunner();
    expect(transactionDepth(runner)).toBe(0);
    await runner.release();
  });

  it('fails loudly when the property is gone', () => {
    expect(() => transactionDepth({} as never)).toThrow(
      'TypeORM QueryRunner.transactionDepth is gone',
    );
  });
});

describe('change detection by plaintext', () => {
  beforeAll(() => installTypeOrmAdapter());

  /** A subject whose one column runs `probe` when TypeORM reads its value during the diff. */
  function subjectProbing(probe: () => void) {
    const column = {
      getEntityValue: () => {
        probe();
        return undefined; // undefined: TypeORM skips the column, nothing else is needed
      },
    };
    return {
      entity: {},
      metadata: { columns: [column], relationsWithJoinColumns: [] },
      changeMaps: [],
      diffColumns: [],
    };
  }

  it('is on only while TypeORM computes a diff, and wipes the comparison buffers after it', () => {
    const comparison = Buffer.from('\u0001Ada Lovelace');
    let during = false;
    expect(isComputingChanges()).toBe(false);
    new SubjectChangedColumnsComputer().compute([
      subjectProbing(() => {
        during = isComputingChanges();
        wipeAfterDiff(comparison);
        expect(comparison.toString('utf8', 1)).toBe('Ada Lovelace'); // still readable for the comparison
      }),
    ] as never);
    expect(during).toBe(true);
    expect(isComputingChanges()).toBe(false);
    expect(comparison.equals(Buffer.alloc(comparison.length))).toBe(true);
  });

  it('ends the mode and still wipes when the diff throws', () => {
    const comparison = Buffer.from('\u0001secret');
    expect(() =>
      new SubjectChangedColumnsComputer().compute([
        subjectProbing(() => {
          wipeAfterDiff(comparison);
          throw new Error('boom');
        }),
      ] as never),
    ).toThrow('boom');
    expect(isComputingChanges()).toBe(false);
    expect(comparison.equals(Buffer.alloc(comparison.length))).toBe(true);
  });

  it('installs once', () => {
    const wrapped = (
      SubjectChangedColumnsComputer.prototype as unknown as Record<
        string,
        unknown
      >
    ).computeDiffColumns;
    installTypeOrmAdapter();
    expect(
      (
        SubjectChangedColumnsComputer.prototype as unknown as Record<
          string,
          unknown
        >
      ).computeDiffColumns,
    ).toBe(wrapped);
  });
});
