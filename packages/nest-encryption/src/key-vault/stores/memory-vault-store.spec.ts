import { randomBytes } from 'node:crypto';
import { FakeClock } from '../../testing/fake-clock';
import { MemoryVaultStore } from './memory-vault-store';

const IDLE_MS = 60_000;
const MAX_MS = 300_000;
const SWEEP_MS = 30_000;

describe('MemoryVaultStore', () => {
  let clock: FakeClock;
  let store: MemoryVaultStore;

  function createStore(maxEntries = 1000): MemoryVaultStore {
    return new MemoryVaultStore({
      idleTtlMs: IDLE_MS,
      maxTtlMs: MAX_MS,
      maxEntries,
      sweepIntervalMs: SWEEP_MS,
      clock: clock.now,
    });
  }

  beforeEach(() => {
    clock = new FakeClock();
    store = createStore();
  });
  afterEach(() => store.close());

  const isZeroed = (buffer: Buffer) => buffer.every((byte) => byte === 0);

  /** Stores a random "sealed" entry and returns the very Buffer the store keeps. */
  async function put(sessionId: string, userId = 'user-a'): Promise<Buffer> {
    const sealed = randomBytes(88);
    await store.put(sessionId, userId, sealed);
    return sealed;
  }

  it('returns a copy of the stored entry, so the caller cannot alter or outlive it', async () => {
    const stored = await put('s1');
    const read = (await store.get('s1')) as Buffer;
    expect(read.equals(stored)).toBe(true);
    expect(read).not.toBe(stored);
    read.fill(7);
    expect(read.equals(stored)).toBe(false);
    expect((await store.get('s1'))?.equals(stored)).toBe(true);
  });

  describe('idle expiry', () => {
    it('expires an entry left unread for the idle time, and zeroes it on the read that finds it', async () => {
      const stored = await put('s1');
      clock.advance(IDLE_MS - 1);
      expect(store.peek('s1')).toBeDefined();
      clock.advance(1);
      await expect(store.get('s1')).resolves.toBeUndefined();
      expect(store.size).toBe(0);
      expect(isZeroed(stored)).toBe(true);
    });

    it('slides on every read', async () => {
      await put('s1');
      // 4 × (idle − 1 ms) is past the idle time, still short of the absolute expiry.
      for (let i = 0; i < 4; i++) {
        clock.advance(IDLE_MS - 1);
        await expect(store.get('s1')).resolves.toBeDefined();
      }
      expect(store.peek('s1')?.expiresAt).toBe(clock.now() + IDLE_MS);
    });
  });

  describe('absolute expiry', () => {
    it('is never exceeded, however often the entry is read', async () => {
      const createdAt = clock.now();
      await put('s1');
      while (clock.now() + IDLE_MS / 2 < createdAt + MAX_MS) {
        clock.advance(IDLE_MS / 2);
        await expect(store.get('s1')).resolves.toBeDefined();
        expect(store.peek('s1')!.expiresAt).toBeLessThanOrEqual(
          createdAt + MAX_MS,
        );
      }
      expect(store.peek('s1')!.expiresAt).toBe(createdAt + MAX_MS);
      clock.advance(createdAt + MAX_MS - clock.now());
      await expect(store.get('s1')).resolves.toBeUndefined();
    });

    it('is kept when a live entry is replaced, and the replaced bytes are zeroed', async () => {
      const createdAt = clock.now();
      const first = await put('s1');
      clock.advance(IDLE_MS / 2);
      const second = await put('s1');
      expect(isZeroed(first)).toBe(true);
      expect(store.peek('s1')?.sealed).toBe(second);
      expect(store.peek('s1')?.absoluteExpiresAt).toBe(createdAt + MAX_MS);
    });

    it('starts afresh when the replaced entry had already expired', async () => {
      await put('s1');
      clock.advance(IDLE_MS);
      await put('s1');
      expect(store.peek('s1')?.absoluteExpiresAt).toBe(clock.now() + MAX_MS);
    });
  });

  describe('sweep', () => {
    it('removes expired entries, zeroes their bytes and keeps the live ones', async () => {
      const old = [await put('old-1'), await put('old-2', 'user-b')];
      clock.advance(IDLE_MS / 2);
      const fresh = await put('fresh');
      clock.advance(IDLE_MS / 2);

      expect(store.sweep()).toBe(2);
      expect(old.every(isZeroed)).toBe(true);
      expect(store.sessionIds()).toEqual(['fresh']);
      expect(isZeroed(fresh)).toBe(false);
      // Their per-user index entries went with them.
      await expect(store.deleteAllForUser('user-b')).resolves.toBe(0);
    });

    it('runs on its interval from an unref()ed timer', async () => {
      await store.close();
      jest.useFakeTimers();
      try {
        const setIntervalSpy = jest.spyOn(global, 'setInterval');
        store = createStore();
        const timer = setIntervalSpy.mock.results[0].value as NodeJS.Timeout;
        expect(timer.hasRef()).toBe(false);
        const stored = await put('s1');
        clock.advance(IDLE_MS);
        jest.advanceTimersByTime(SWEEP_MS);
        expect(store.size).toBe(0);
        expect(isZeroed(stored)).toBe(true);
        setIntervalSpy.mockRestore();
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('size bound', () => {
    it('evicts the least recently used entry when full, and zeroes it', async () => {
      await store.close();
      store = createStore(3);
      const a = await put('a');
      const b = await put('b');
      await put('c');
      await store.get('a'); // b is now the least recently used
      await put('d');

      expect(store.size).toBe(3);
      expect(store.sessionIds().sort()).toEqual(['a', 'c', 'd']);
      expect(isZeroed(b)).toBe(true);
      expect(isZeroed(a)).toBe(false);
    });

    it('does not evict when an existing entry is replaced', async () => {
      await store.close();
      store = createStore(2);
      await put('a');
      await put('b');
      await put('a');
      expect(store.sessionIds().sort()).toEqual(['a', 'b']);
    });
  });

  describe('per-user revocation', () => {
    it("removes and zeroes one user's entries, keeps the excepted one and everyone else's", async () => {
      const mine = [await put('m1'), await put('m2'), await put('m3')];
      const theirs = await put('t1', 'user-b');

      await expect(store.deleteAllForUser('user-a', 'm2')).resolves.toBe(2);
      expect(store.sessionIds().sort()).toEqual(['m2', 't1']);
      expect(isZeroed(mine[0]) && isZeroed(mine[2])).toBe(true);
      expect(isZeroed(mine[1]) || isZeroed(theirs)).toBe(false);

      await expect(store.deleteAllForUser('user-a')).resolves.toBe(1);
      await expect(store.deleteAllForUser('nobody')).resolves.toBe(0);
      expect(store.sessionIds()).toEqual(['t1']);
    });

    it('moves a session between user indexes when another user stores under its id', async () => {
      await put('s1', 'user-a');
      await put('s1', 'user-b');
      await expect(store.deleteAllForUser('user-a')).resolves.toBe(0);
      await expect(store.deleteAllForUser('user-b')).resolves.toBe(1);
    });
  });

  it('deletes one entry and zeroes it', async () => {
    const stored = await put('s1');
    await expect(store.delete('s1')).resolves.toBe(true);
    await expect(store.delete('s1')).resolves.toBe(false);
    expect(isZeroed(stored)).toBe(true);
  });

  it('zeroes everything on close and refuses work afterwards', async () => {
    const stored = [await put('s1'), await put('s2', 'user-b')];
    await store.close();
    expect(stored.every(isZeroed)).toBe(true);
    expect(store.size).toBe(0);
    await expect(store.get('s1')).rejects.toThrow(/closed/);
    await expect(store.ping()).rejects.toThrow(/closed/);
    await expect(store.close()).resolves.toBeUndefined();
  });
});
