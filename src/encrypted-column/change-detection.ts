/**
 * `save()` of a loaded entity diffs it against the row TypeORM reloads, by running the column
 * transformer on both sides and comparing the results. For a ciphertext with a random nonce the
 * two sides never match, so every encrypted column was re-encrypted twice per diff (and the diff
 * runs twice when subscribers exist), then written again although unchanged.
 *
 * This wraps the one TypeORM method that computes the diff (synchronous) in a depth counter;
 * while it runs, `@EncryptedColumn` returns the encoded plaintext (`encodeValue`) instead of a
 * ciphertext, so equal values compare equal and unchanged columns are left out of the UPDATE.
 * Those comparison buffers are used only for the comparison (the UPDATE takes the entity's
 * value and encrypts it then) and are wiped when the diff returns. Pinned by the change-detection
 * integration test: if a TypeORM upgrade renames the method, installation throws at start-up.
 */
// TypeORM exports its persistence internals only by path.
import { SubjectChangedColumnsComputer } from 'typeorm/persistence/SubjectChangedColumnsComputer.js';

let diffDepth = 0;
let installed = false;
const comparisonBuffers: Buffer[] = [];

export function isComputingChanges(): boolean {
  return diffDepth > 0;
}

/** Keeps `buffer` (a comparison form holding plaintext) to be wiped when the diff ends. */
export function wipeAfterDiff(buffer: Buffer): Buffer {
  comparisonBuffers.push(buffer);
  return buffer;
}

export function installChangeDetection(): void {
  if (installed) return;
  const computer = SubjectChangedColumnsComputer.prototype as unknown as Record<
    string,
    unknown
  >;
  const computeDiffColumns = computer.computeDiffColumns as
    ((this: unknown, ...args: unknown[]) => unknown) | undefined;
  if (typeof computeDiffColumns !== 'function') {
    throw new Error(
      'TypeORM internals changed: cannot compare encrypted columns by value when saving',
    );
  }
  computer.computeDiffColumns = function diffByPlaintext(
    this: unknown,
    ...args: unknown[]
  ) {
    diffDepth++;
    try {
      return computeDiffColumns.apply(this, args);
    } finally {
      diffDepth--;
      if (diffDepth === 0) {
        for (const buffer of comparisonBuffers) buffer.fill(0);
        comparisonBuffers.length = 0;
      }
    }
  };
  installed = true;
}
