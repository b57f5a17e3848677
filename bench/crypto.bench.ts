/**
 * `npm run bench:crypto`: per-field encryption cost (SPEC §8 baseline), both AEADs and the
 * `@EncryptedColumn` transformer path, beside a plaintext copy; run on the machine at hand.
 */
import { cpus } from 'node:os';
import { randomUUID } from 'node:crypto';
import { AeadAlgorithm, open, seal } from '../src/crypto/aead';
import { generateDataKey } from '../src/crypto/data-key';
import { EncryptedValueTransformer } from '../src/encrypted-column/encrypted-column';
import { configureEncryption } from '../src/encrypted-column/encryption-settings';
import { KeyContext } from '../src/key-vault/key-context';
import { Keyring } from '../src/key-vault/keyring';
import { SessionKeyVault } from '../src/key-vault/session-key-vault';
import { MemoryVaultStore } from '../src/key-vault/stores/memory-vault-store';
import { RedisVaultStore } from '../src/key-vault/stores/redis-vault-store';
import type { VaultStore } from '../src/key-vault/vault-store';
import { compareSideBySide, printTable } from './micro';

async function main(): Promise<void> {
  const cpu = cpus();
  process.stdout.write(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}\n`);

  const key = generateDataKey();
  const aad = Buffer.from(`enc-col\u0000contacts\u0000fullName\u0000${randomUUID()}`);
  const field = Buffer.from('Ada Lovelace, 12 St James’s Square, London', 'utf8');
  const sealed = {
    xchacha: seal(field, key, { algorithm: AeadAlgorithm.XChaCha20Poly1305, keyVersion: 1, aad }),
    gcm: seal(field, key, { algorithm: AeadAlgorithm.Aes256Gcm, keyVersion: 1, aad }),
  };
  const keyFor = () => key;

  printTable(
    `AEAD, one ${field.length}-byte field (envelope + ${sealed.xchacha.length - field.length} bytes XChaCha, ${sealed.gcm.length - field.length} bytes GCM)`,
    compareSideBySide({
      'plaintext copy': () => void Buffer.from(field),
      'XChaCha20-Poly1305 seal': () => void seal(field, key, { algorithm: AeadAlgorithm.XChaCha20Poly1305, keyVersion: 1, aad }),
      'XChaCha20-Poly1305 open': () => void open(sealed.xchacha, keyFor, aad),
      'AES-256-GCM seal': () => void seal(field, key, { algorithm: AeadAlgorithm.Aes256Gcm, keyVersion: 1, aad }),
      'AES-256-GCM open': () => void open(sealed.gcm, keyFor, aad),
    }),
  );

  class Contact {}
  const transformer = new EncryptedValueTransformer(Contact, 'fullName', undefined, 'contacts.fullName');
  const keyring = new Keyring(randomUUID(), new Map([[1, generateDataKey()]]), 1);
  await KeyContext.runWithKeyring(keyring, async () => {
    for (const [name, algorithm] of [
      ['XChaCha20-Poly1305', AeadAlgorithm.XChaCha20Poly1305],
      ['AES-256-GCM', AeadAlgorithm.Aes256Gcm],
    ] as const) {
      configureEncryption({ algorithm });
      const stored = transformer.to('Ada Lovelace') as Buffer;
      printTable(
        `@EncryptedColumn transformer, ${name} (KeyContext lookup + encode + AEAD)`,
        compareSideBySide({
          'to()   (write a field)': () => void transformer.to('Ada Lovelace'),
          'from() (read a field)': () => void transformer.from(stored),
        }),
      );
    }
  });

  await benchVault('memory store', new MemoryVaultStore({ idleTtlMs: 1_800_000, maxTtlMs: 43_200_000, maxEntries: 200_000, sweepIntervalMs: 30_000 }));
  if (process.env.REDIS_URL) {
    const redis = new RedisVaultStore({
      url: process.env.REDIS_URL,
      keyPrefix: `bench:${randomUUID()}:`,
      commandTimeoutMs: 1000,
      idleTtlMs: 1_800_000,
      maxTtlMs: 43_200_000,
    });
    if (await redis.waitUntilReady(2_000)) await benchVault('Redis store (REDIS_URL, loopback)', redis, 2_000);
    else process.stdout.write('\nvault unlock, Redis store: skipped (no Redis at REDIS_URL)\n');
  }
  await memoryPerSession(100_000);
}

/** Per-request cost: fetch the sealed entry, derive the session key, open it, build a Keyring. */
async function benchVault(label: string, store: VaultStore, iterations = 50_000): Promise<void> {
  const vault = new SessionKeyVault({ vaultKey: generateDataKey() }, store);
  const session = { sessionId: randomUUID(), userId: randomUUID(), clientShare: generateDataKey().subarray(0, 16) };
  await vault.store(session, new Keyring(session.userId, new Map([[1, generateDataKey()]]), 1));
  const rounds: number[] = [];
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) (await vault.unlock(session)).zero();
    rounds.push(Number(process.hrtime.bigint() - start) / iterations / 1000);
  }
  rounds.sort((a, b) => a - b);
  process.stdout.write(
    `\nvault unlock per request, ${label}\n  median ${rounds[3].toFixed(2)} µs   min ${rounds[0].toFixed(2)}   max ${rounds[6].toFixed(2)}\n`,
  );
  await vault.revoke(session.sessionId);
  await vault.onApplicationShutdown();
}

/** Heap growth per stored session (one DEK version), memory store; run with --expose-gc. */
async function memoryPerSession(count: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    process.stdout.write('\nbytes per session: skipped (run with node --expose-gc)\n');
    return;
  }
  const store = new MemoryVaultStore({ idleTtlMs: 1_800_000, maxTtlMs: 43_200_000, maxEntries: count * 2, sweepIntervalMs: 3_600_000 });
  const vault = new SessionKeyVault({ vaultKey: generateDataKey() }, store);
  gc();
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  for (let i = 0; i < count; i++) {
    const userId = randomUUID();
    await vault.store(
      { sessionId: randomUUID(), userId, clientShare: generateDataKey().subarray(0, 16) },
      new Keyring(userId, new Map([[1, generateDataKey()]]), 1),
    );
  }
  gc();
  const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  process.stdout.write(`\nmemory store: ${((after - before) / count).toFixed(0)} bytes per session (${count} sessions, one user each)\n`);
  await vault.onApplicationShutdown();
}

void main();
