import { ROTATION_BATCH_ROWS } from '../rotation/reencryption-batches';

/** How one owner's background adoption pass ended. */
export type PlaintextAdoptionOutcome =
  /** Every adopting column of the owner holds ciphertext or NULL. */
  | 'completed'
  /** The owner had no plaintext left: nothing was written. */
  | 'nothing-to-adopt'
  /** Another process (or connection) holds the owner's adoption lock: it runs the pass. */
  | 'running-elsewhere'
  /** Shutdown: the current batch committed, the rest waits for the next login. */
  | 'stopped'
  /**
   * The key version the pass sealed under was retired by a key rotation meanwhile: the batch was
   * rolled back, and the next login (holding the new version) adopts the rest.
   */
  | 'key-retired';

/**
 * What the background pass reports, for metrics (docs/plaintext-adoption.md#the-background-pass).
 * Called on the pass's own path: keep each call cheap and never throw.
 */
export interface PlaintextAdoptionObserver {
  /** A pass ended: its outcome, or 'failed' when it threw (the rows left wait for a later one). */
  runEnded(outcome: PlaintextAdoptionOutcome | 'failed'): void;
  /**
   * A batch committed: `rows` rows re-sealed, `values` non-NULL values written (every encrypted
   * column of those rows, adopting or not).
   */
  rowsAdopted(rows: number, values: number): void;
}

/** `PlaintextAdoptionModule`'s options (docs/plaintext-adoption.md#enabling-the-pass). */
export interface PlaintextAdoptionModuleOptions {
  /**
   * The query `EncryptedColumnsModule` runs before an encrypted write (its `liveKeySql`, e.g.
   * `SqlKeyRotationStore#liveKeySql()`): $1 the owner id, $2 the key version; one row while that
   * wrapped key exists, locked `FOR KEY SHARE` until the batch commits.
   */
  liveKeySql: string;
  /** Rows per transaction; default 500, as key rotation. */
  batchRows?: number;
  /**
   * The least time between two passes started by `'unlocked'` events (requests of a session that
   * was opened before this process started) for one owner; default 10 minutes. A login
   * (`'opened'`) always starts one.
   */
  unlockRecheckMs?: number;
  /** Counters; nothing is reported without one. */
  observer?: PlaintextAdoptionObserver;
}

export interface ResolvedPlaintextAdoptionOptions {
  liveKeySql: string;
  batchRows: number;
  unlockRecheckMs: number;
  observer?: PlaintextAdoptionObserver;
}

export const DEFAULT_UNLOCK_RECHECK_MS = 10 * 60_000;
/** Bigger batches hold row locks longer than a request should wait for them. */
export const MAX_ADOPTION_BATCH_ROWS = 10_000;

/** Checks the options (at start-up) and fills in the defaults. */
export function resolvePlaintextAdoptionOptions(
  options: PlaintextAdoptionModuleOptions,
): ResolvedPlaintextAdoptionOptions {
  if (options === null || typeof options !== 'object')
    throw new Error('PlaintextAdoptionModule: options are required');
  const {
    liveKeySql,
    batchRows = ROTATION_BATCH_ROWS,
    unlockRecheckMs = DEFAULT_UNLOCK_RECHECK_MS,
    observer,
  } = options;
  if (
    typeof liveKeySql !== 'string' ||
    !liveKeySql.includes('$1') ||
    !liveKeySql.includes('$2')
  )
    throw new Error(
      'PlaintextAdoptionModule: liveKeySql must be a query over $1 (owner id) and $2 (key version)',
    );
  if (
    !Number.isInteger(batchRows) ||
    batchRows < 1 ||
    batchRows > MAX_ADOPTION_BATCH_ROWS
  )
    throw new Error(
      `PlaintextAdoptionModule: batchRows must be an integer from 1 to ${MAX_ADOPTION_BATCH_ROWS}`,
    );
  if (
    typeof unlockRecheckMs !== 'number' ||
    !Number.isFinite(unlockRecheckMs) ||
    unlockRecheckMs < 0
  )
    throw new Error(
      'PlaintextAdoptionModule: unlockRecheckMs must be a finite number of milliseconds, 0 or more',
    );
  if (
    observer !== undefined &&
    (observer === null ||
      typeof observer.runEnded !== 'function' ||
      typeof observer.rowsAdopted !== 'function')
  )
    throw new Error(
      'PlaintextAdoptionModule: observer must have runEnded() and rowsAdopted()',
    );
  return { liveKeySql, batchRows, unlockRecheckMs, observer };
}
