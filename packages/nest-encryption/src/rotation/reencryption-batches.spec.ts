import type { QueryRunner } from 'typeorm';
import type { BlindIndexes } from '../encrypted-column/blind-index';
import {
  ReencryptionBatches,
  type ReencryptionPredicate,
} from './reencryption-batches';

/**
 * The inputs `ReencryptionBatches` refuses before it touches the database. What it does on
 * PostgreSQL is test/integration/rotation.integration-spec.ts.
 */
describe('ReencryptionBatches refuses bad input', () => {
  const escape = (name: string) => `"${name}"`;
  const blindIndexes = {} as BlindIndexes;
  const untouched = {
    query: () => Promise.reject(new Error('no query expected')),
    startTransaction: () => Promise.reject(new Error('no query expected')),
  } as unknown as QueryRunner;
  const hooks = {
    beforeCommit: () => Promise.resolve(),
    stopping: () => false,
  };

  it.each([0, -1, 1.5, Number.NaN])('batchRows %p', (batchRows) => {
    expect(
      () => new ReencryptionBatches([], escape, blindIndexes, batchRows),
    ).toThrow(new RangeError('batchRows must be a positive integer'));
  });

  it.each([
    ['version 0', { kind: 'not-under-version', version: 0 }],
    ['a negative version', { kind: 'not-under-version', version: -2 }],
    ['a fractional version', { kind: 'not-under-version', version: 1.5 }],
    ['a version past 32 bits', { kind: 'not-under-version', version: 2 ** 32 }],
    ['a version as a string', { kind: 'not-under-version', version: '2' }],
    ['no version', { kind: 'not-under-version' }],
  ])('%s', async (_case, predicate) => {
    const batches = new ReencryptionBatches([], escape, blindIndexes);
    const refusal = new RangeError(
      'a not-under-version predicate needs a key version from 1 to 2^32-1',
    );
    await expect(
      batches.run(
        untouched,
        'owner-1',
        predicate as ReencryptionPredicate,
        hooks,
      ),
    ).rejects.toThrow(refusal);
    await expect(
      batches.anyLeft(untouched, 'owner-1', predicate as ReencryptionPredicate),
    ).rejects.toThrow(refusal);
  });

  it('an unknown predicate kind', async () => {
    const batches = new ReencryptionBatches([], escape, blindIndexes);
    await expect(
      batches.run(
        untouched,
        'owner-1',
        { kind: 'everything' } as unknown as ReencryptionPredicate,
        hooks,
      ),
    ).rejects.toThrow(
      new TypeError('unknown re-encryption predicate: everything'),
    );
  });
});
