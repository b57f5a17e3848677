import { SubjectChangedColumnsComputer } from 'typeorm/persistence/SubjectChangedColumnsComputer.js';
import {
  installChangeDetection,
  isComputingChanges,
  wipeAfterDiff,
} from './change-detection';

describe('change detection by plaintext', () => {
  beforeAll(() => installChangeDetection());

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
    installChangeDetection();
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
