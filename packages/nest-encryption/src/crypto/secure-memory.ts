import { readFileSync } from 'node:fs';
import sodiumTyped from 'sodium-native';

/** sodium-native 5's memory calls (its type package lacks `sodium_free`). */
const sodium = sodiumTyped as unknown as {
  sodium_malloc(size: number): Buffer;
  sodium_free(buffer: Buffer): void;
  sodium_mlock(buffer: Buffer): void;
  sodium_memzero(buffer: Buffer): void;
};

/**
 * Locked key memory (docs/design.md#keys-in-memory). Every key this process holds lives in memory
 * from libsodium's `sodium_malloc`: locked against paging (mlock), excluded from core dumps
 * (MADV_DONTDUMP), fenced by guard pages, and wiped when released.
 *
 * One `sodium_malloc` per key would cost two mprotect calls, an mmap and four pages of address
 * space each, so keys are carved from slabs: a slab is one `sodium_malloc` of four pages, cut into
 * slots of one size class (32 to 4,096 bytes). A slot is handed out as a Buffer of exactly the
 * length asked for; `zeroBuffer()` wipes it and returns it to its slab. Larger allocations get a
 * `sodium_malloc` of their own.
 *
 * A slot that is never released stays locked and undumpable, but is not wiped until the process
 * ends and is never reused: `secureMemoryStatus().slotsInUse` counts them, and the e2e suites
 * check that a request gives back every slot it took. (A FinalizationRegistry would catch such
 * leaks for us, but registering each allocation cost ~1.5 µs here, a tenth of the vault's
 * per-request budget.)
 *
 * Rules for callers: never `subarray()` a secure buffer for longer than the buffer itself is
 * referenced (a released slot is handed to the next key), and never copy a key into an ordinary
 * Buffer (`Buffer.from(key)`); use `secureCopy()`.
 */

/** Bytes of one slab: four pages less libsodium's 16-byte canary, so the slab is exactly 4 pages. */
const SLAB_BYTES = 4 * 4096 - 16;
const SIZE_CLASSES = [32, 64, 128, 256, 512, 1024, 4096] as const;
const LARGEST_SLOT = SIZE_CLASSES[SIZE_CLASSES.length - 1];

interface SizeClass {
  slotBytes: number;
  free: Slot[];
}

interface Slab {
  memory: Buffer;
  sizeClass: SizeClass;
}

interface Slot {
  slab: Slab;
  offset: number;
  /** Bumped at every hand-out: a lease of an earlier hand-out no longer matches. */
  generation: number;
  inUse: boolean;
}

/** One hand-out of a slot, kept on the Buffer it was handed out as. */
interface Lease {
  slot: Slot;
  generation: number;
}

const LEASE = Symbol('secure-memory lease');
type LeasedBuffer = Buffer & { [LEASE]?: Lease };

const sizeClasses: SizeClass[] = SIZE_CLASSES.map((slotBytes) => ({
  slotBytes,
  free: [],
}));
/** Size class per length 0…4,096, so an allocation does not search. */
const classForLength: SizeClass[] = Array.from(
  { length: LARGEST_SLOT + 1 },
  (_, length) =>
    sizeClasses.find((candidate) => candidate.slotBytes >= length) as SizeClass,
);
/** Dedicated `sodium_malloc` buffers (larger than a slot), released with `sodium_free`. */
const dedicated = new WeakSet<Buffer>();

interface LockState {
  slabs: number;
  lockedSlabs: number;
  slotsInUse: number;
  dedicatedBytes: number;
  /** Why the last mlock failed (errno text), if one did. */
  lockFailure?: string;
}
const lockState: LockState = {
  slabs: 0,
  lockedSlabs: 0,
  slotsInUse: 0,
  dedicatedBytes: 0,
};

/**
 * A zero-filled buffer of `length` bytes in locked, undumpable memory. Release it with
 * `zeroBuffer()` as soon as its key is no longer needed.
 */
export function secureAlloc(length: number): Buffer {
  if (!Number.isInteger(length) || length < 0)
    throw new RangeError('secureAlloc: length must be a whole number of bytes');
  if (length > LARGEST_SLOT) {
    const buffer = sodium.sodium_malloc(length);
    tryLock(buffer);
    sodium.sodium_memzero(buffer);
    dedicated.add(buffer);
    lockState.dedicatedBytes += length;
    return buffer;
  }
  const sizeClass = classForLength[length];
  if (sizeClass.free.length === 0) addSlab(sizeClass);
  const slot = sizeClass.free.pop() as Slot;
  const buffer: LeasedBuffer = slot.slab.memory.subarray(
    slot.offset,
    slot.offset + length,
  );
  slot.generation++;
  slot.inUse = true;
  // Not enumerable: it must not show in inspection or in deep equality of the buffer.
  Object.defineProperty(buffer, LEASE, {
    value: { slot, generation: slot.generation },
  });
  lockState.slotsInUse++;
  return buffer;
}

/** A copy of `source` in secure memory. `source` is left as it is (wipe it if it was a key). */
export function secureCopy(source: Buffer): Buffer {
  const copy = secureAlloc(source.byteLength);
  copy.set(source);
  return copy;
}

/**
 * Moves key bytes that arrived in ordinary memory (a library's return value, a decoded string)
 * into secure memory, wiping the original at once.
 */
export function secureTakeOver(source: Buffer): Buffer {
  try {
    return secureCopy(source);
  } finally {
    sodium.sodium_memzero(source);
  }
}

/**
 * Overwrites key material in place (libsodium's `sodium_memzero`, which the compiler cannot
 * elide). A buffer from `secureAlloc()` is also released: its slot goes back to its slab, so
 * the buffer must not be used afterwards. Zeroing a buffer twice is harmless.
 */
export function zeroBuffer(...buffers: (Buffer | undefined | null)[]): void {
  for (const buffer of buffers) {
    if (!buffer) continue;
    const lease = (buffer as LeasedBuffer)[LEASE];
    if (lease) {
      // A released buffer's slot may belong to another key by now: leave it alone.
      if (!isCurrent(lease)) continue;
      if (buffer.byteLength > 0) sodium.sodium_memzero(buffer); // the rest of the slot was never handed out
      returnSlot(lease.slot);
    } else if (dedicated.has(buffer)) {
      dedicated.delete(buffer);
      lockState.dedicatedBytes -= buffer.byteLength;
      sodium.sodium_free(buffer); // wipes, unmaps, and detaches the buffer
    } else if (buffer.byteLength > 0) {
      sodium.sodium_memzero(buffer);
    }
  }
}

/** Whether `buffer` is a live allocation of `secureAlloc()` (tests, assertions). */
export function isSecureBuffer(buffer: Buffer): boolean {
  const lease = (buffer as LeasedBuffer)[LEASE];
  return (lease !== undefined && isCurrent(lease)) || dedicated.has(buffer);
}

export interface SecureMemoryStatus {
  /** Every slab allocated so far is locked in RAM (mlock succeeded). */
  locked: boolean;
  slabs: number;
  lockedSlabs: number;
  slotsInUse: number;
  /** Bytes of locked memory asked for: slabs plus dedicated allocations. */
  secureBytes: number;
  /** The process's RLIMIT_MEMLOCK in bytes (`Infinity` when unlimited), when it can be read. */
  memlockLimitBytes?: number;
  /** Why locking failed, if it did (e.g. "Cannot allocate memory": RLIMIT_MEMLOCK too low). */
  lockFailure?: string;
}

/**
 * Whether key memory is really locked (self-check: docs/design.md#keys-in-memory). Allocates a
 * first slab if none exists, so a start-up call tells whether locking works before any key is held.
 */
export function secureMemoryStatus(): SecureMemoryStatus {
  return {
    locked: secureMemoryLocked(),
    slabs: lockState.slabs,
    lockedSlabs: lockState.lockedSlabs,
    slotsInUse: lockState.slotsInUse,
    secureBytes: lockState.slabs * SLAB_BYTES + lockState.dedicatedBytes,
    memlockLimitBytes: readMemlockLimit(),
    lockFailure: lockState.lockFailure,
  };
}

/**
 * `secureMemoryStatus().locked` alone, without reading the memlock limit from /proc: cheap enough
 * for every readiness probe. Allocates a first slab if none exists.
 */
export function secureMemoryLocked(): boolean {
  if (lockState.slabs === 0) addSlab(sizeClasses[0]);
  return (
    lockState.lockedSlabs === lockState.slabs &&
    lockState.lockFailure === undefined
  );
}

function addSlab(sizeClass: SizeClass): void {
  const memory = sodium.sodium_malloc(SLAB_BYTES);
  const slab: Slab = { memory, sizeClass };
  lockState.slabs++;
  if (tryLock(memory)) lockState.lockedSlabs++;
  sodium.sodium_memzero(memory);
  const count = Math.floor(SLAB_BYTES / sizeClass.slotBytes);
  for (let i = count - 1; i >= 0; i--) {
    sizeClass.free.push({
      slab,
      offset: i * sizeClass.slotBytes,
      generation: 0,
      inUse: false,
    });
  }
}

/**
 * `sodium_malloc` already asked for the lock but ignores a refusal; asking again tells whether it
 * holds (mlock of pages already locked changes nothing). MADV_DONTDUMP is set either way.
 */
function tryLock(memory: Buffer): boolean {
  try {
    sodium.sodium_mlock(memory);
    return true;
  } catch (error) {
    lockState.lockFailure = `mlock failed (${(error as Error).message}); RLIMIT_MEMLOCK is probably too low`;
    return false;
  }
}

function isCurrent(lease: Lease): boolean {
  return lease.slot.inUse && lease.slot.generation === lease.generation;
}

function returnSlot(slot: Slot): void {
  slot.inUse = false;
  lockState.slotsInUse--;
  slot.slab.sizeClass.free.push(slot);
}

function readMemlockLimit(): number | undefined {
  try {
    // Where /proc does not exist, the read throws and the limit is unknown.
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('Max locked memory'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === undefined) return undefined;
    return soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return undefined;
  }
}
