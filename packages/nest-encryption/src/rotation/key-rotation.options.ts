import type { KeyRotationStore } from './key-rotation-store';
import type { RotationParticipant } from './rotation-participant';

/** How a rotation run ended. */
export type RotationOutcome =
  'completed' | 'not-pending' | 'running-elsewhere' | 'stopped';

/**
 * What key rotation reports, for metrics (docs/rotation.md#the-observer). Called on the run's own
 * path: keep each call cheap and never throw.
 */
export interface KeyRotationObserver {
  /** A run ended: its outcome, or 'failed' when it threw (the rotation stays pending). */
  runEnded(outcome: RotationOutcome | 'failed'): void;
  /** +1 when a run starts re-encrypting, -1 when it ends. */
  runningChanged(delta: 1 | -1): void;
  /** Column values re-encrypted by a committed batch. */
  valuesReencrypted(count: number): void;
  /** Participants' items re-encrypted. */
  itemsReencrypted(count: number, participant: string): void;
}

/** `KeyRotationModule`'s options (docs/rotation.md#wiring-it-in). */
export interface KeyRotationModuleOptions {
  /** Where rotations and wrapped keys live: `new SqlKeyRotationStore()` for the default schema. */
  store: KeyRotationStore;
  /** Non-column data to re-encrypt, in this order, after the columns. */
  participants?: readonly RotationParticipant[];
  /** Counters and gauges; nothing is reported without one. */
  observer?: KeyRotationObserver;
}
