/**
 * Key vault (docs/sessions.md and docs/benchmarks.md): the per-request cost of finding a session's
 * sealed entry and unwrapping its keyring (memory store; the Redis store too when REDIS_URL is
 * set), and the memory the memory store holds per session, with the app's real identifiers (SHA-256
 * hex of the session id, a UUID user id, a 16-byte client share).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { generateDataKey } from '@vault-pii/nest-encryption/crypto';
import {
  Keyring,
  SessionKeyVault,
  MemoryVaultStore,
  createRedisVaultStore,
  type VaultSession,
  type VaultStore,
} from '@vault-pii/nest-encryption';
import { BenchSection } from '../support/bench-context';
import {
  renderTable,
  summarize,
  Summary,
  summaryCells,
} from '../support/stats';

const IDLE_MS = 1_800_000;
const MAX_MS = 43_200_000;

export const runVaultBench: BenchSection = async (context) => {
  const rounds = context.quick ? 5 : 7;
  const unlocks = context.quick ? 2_000 : 20_000;
  const sessions = context.quick ? 20_000 : 100_000;
  const rows = [['store', 'µs median', 'min', 'max']];
  const extra: Record<string, number> = {};

  context.progress(`vault: unlock ×${unlocks} × ${rounds} rounds`);
  const memory = await timeUnlock(
    new MemoryVaultStore({
      idleTtlMs: IDLE_MS,
      maxTtlMs: MAX_MS,
      maxEntries: 200_000,
      sweepIntervalMs: 30_000,
    }),
    rounds,
    unlocks,
  );
  rows.push(['memory', ...summaryCells(memory, 2)]);
  if (context.redisUrl) {
    const redis = await createRedisVaultStore({
      url: context.redisUrl,
      keyPrefix: `bench:${randomUUID()}:`,
      commandTimeoutMs: 1000,
      idleTtlMs: IDLE_MS,
      maxTtlMs: MAX_MS,
    });
    if (await redis.waitUntilReady(2_000)) {
      const summary = await timeUnlock(redis, rounds, Math.ceil(unlocks / 10));
      rows.push([
        'Redis (loopback, one request at a time)',
        ...summaryCells(summary, 2),
      ]);
      extra['vault.redisUnwrapMicros'] = summary.median;
    } else {
      await redis.close();
      rows.push(['Redis', 'skipped: no Redis at REDIS_URL', '', '']);
    }
  } else {
    rows.push(['Redis', 'skipped: REDIS_URL not set', '', '']);
  }

  context.progress(`vault: memory per session, ${sessions} sessions`);
  const memoryUse = await bytesPerSession(sessions);
  const report =
    renderTable(
      `vault: unlock per request (fetch sealed entry, derive session key, open, build keyring), ${rounds} rounds`,
      rows,
    ) +
    `  memory store: ${memoryUse.heapAndExternal.toFixed(0)} bytes per session (V8 heap + external, after GC), ` +
    `${memoryUse.rss.toFixed(0)} bytes by RSS (the larger is reported); ${sessions} sessions, one user each\n`;
  return {
    // The larger of the two readings: the heap + external count misses allocator overhead of
    // each entry's backing store, and RSS includes heap pages V8 keeps committed.
    metrics: {
      'vault.unwrapMicros': memory.median,
      'vault.bytesPerSession': Math.max(
        memoryUse.heapAndExternal,
        memoryUse.rss,
      ),
    },
    extra: {
      ...extra,
      'vault.heapBytesPerSession': memoryUse.heapAndExternal,
      'vault.rssBytesPerSession': memoryUse.rss,
    },
    report,
  };
};

function realisticSession(userId: string = randomUUID()): VaultSession {
  return {
    sessionId: createHash('sha256').update(randomBytes(16)).digest('hex'),
    userId,
    clientShare: randomBytes(16),
  };
}

async function timeUnlock(
  store: VaultStore,
  rounds: number,
  iterations: number,
): Promise<Summary> {
  const vault = new SessionKeyVault({ vaultKey: generateDataKey() }, store);
  const session = realisticSession();
  await vault.store(
    session,
    new Keyring(session.userId, new Map([[1, generateDataKey()]]), 1),
  );
  for (let i = 0; i < Math.min(iterations, 500); i++)
    (await vault.unlock(session)).zero();
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) (await vault.unlock(session)).zero();
    samples.push(Number(process.hrtime.bigint() - start) / iterations / 1000);
  }
  await vault.revoke(session.sessionId);
  await vault.onApplicationShutdown();
  return summarize(samples);
}

async function bytesPerSession(
  count: number,
): Promise<{ heapAndExternal: number; rss: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc)
    throw new Error(
      'vault bench: run node with --expose-gc (npm run bench does)',
    );
  const store = new MemoryVaultStore({
    idleTtlMs: IDLE_MS,
    maxTtlMs: MAX_MS,
    maxEntries: count * 2,
    sweepIntervalMs: 3_600_000,
  });
  const vault = new SessionKeyVault({ vaultKey: generateDataKey() }, store);
  // Keyrings and client shares are made first and kept alive across both readings (the store
  // keeps neither); the identifier strings are made afresh per store() call, as a request makes
  // them, so the store's copies count.
  const identities = Array.from({ length: count }, () => ({
    sid: randomBytes(16),
    userId: Buffer.from(randomUUID()),
    clientShare: randomBytes(16),
  }));
  const keyrings = identities.map(
    (identity) =>
      new Keyring(
        identity.userId.toString(),
        new Map([[1, generateDataKey()]]),
        1,
      ),
  );
  const used = () => {
    const usage = process.memoryUsage();
    return { heapAndExternal: usage.heapUsed + usage.external, rss: usage.rss };
  };
  gc();
  gc();
  const before = used();
  for (let i = 0; i < count; i++) {
    const { sid, userId, clientShare } = identities[i];
    await vault.store(
      {
        sessionId: createHash('sha256').update(sid).digest('hex'),
        userId: userId.toString(),
        clientShare,
      },
      keyrings[i],
    );
  }
  gc();
  gc();
  const after = used();
  if (store.size !== count)
    throw new Error(
      `vault bench: the store holds ${store.size} of ${count} sessions`,
    );
  for (const keyring of keyrings) keyring.zero();
  await vault.onApplicationShutdown();
  return {
    heapAndExternal: (after.heapAndExternal - before.heapAndExternal) / count,
    rss: (after.rss - before.rss) / count,
  };
}
