/**
 * `npm run bench:crypto`: per-field encryption cost (baseline: docs/benchmarks.md#targets), both
 * AEADs and the `@EncryptedColumn` transformer path, beside a plaintext copy; run on the machine at
 * hand. The vault's unlock cost and memory per session are measured by `npm run bench`
 * (bench/vault).
 */
import { cpus } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  AeadAlgorithm,
  open,
  seal,
  generateDataKey,
} from '@vault-pii/nest-encryption/crypto';
import {
  EncryptedValueTransformer,
  KeyContext,
  Keyring,
} from '@vault-pii/nest-encryption';
import { compareSideBySide, printTable } from './micro';

async function main(): Promise<void> {
  const cpu = cpus();
  process.stdout.write(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}\n`,
  );

  const key = generateDataKey();
  const aad = Buffer.from(
    `enc-col\u0000contacts\u0000fullName\u0000${randomUUID()}`,
  );
  const field = Buffer.from(
    'Ada Lovelace, 12 St James’s Square, London',
    'utf8',
  );
  const sealed = {
    xchacha: seal(field, key, {
      algorithm: AeadAlgorithm.XChaCha20Poly1305,
      keyVersion: 1,
      aad,
    }),
    gcm: seal(field, key, {
      algorithm: AeadAlgorithm.Aes256Gcm,
      keyVersion: 1,
      aad,
    }),
  };
  const keyFor = () => key;

  printTable(
    `AEAD, one ${field.length}-byte field (envelope + ${sealed.xchacha.length - field.length} bytes XChaCha, ${sealed.gcm.length - field.length} bytes GCM)`,
    compareSideBySide({
      'plaintext copy': () => void Buffer.from(field),
      'XChaCha20-Poly1305 seal': () =>
        void seal(field, key, {
          algorithm: AeadAlgorithm.XChaCha20Poly1305,
          keyVersion: 1,
          aad,
        }),
      'XChaCha20-Poly1305 open': () => void open(sealed.xchacha, keyFor, aad),
      'AES-256-GCM seal': () =>
        void seal(field, key, {
          algorithm: AeadAlgorithm.Aes256Gcm,
          keyVersion: 1,
          aad,
        }),
      'AES-256-GCM open': () => void open(sealed.gcm, keyFor, aad),
    }),
  );

  class Contact {}
  const column = new EncryptedValueTransformer(
    Contact,
    'fullName',
    undefined,
    'contacts.fullName',
  );
  const keyring = new Keyring(
    randomUUID(),
    new Map([[1, generateDataKey()]]),
    1,
  );
  await KeyContext.runWithKeyring(keyring, () => {
    for (const [name, algorithm] of [
      ['XChaCha20-Poly1305', AeadAlgorithm.XChaCha20Poly1305],
      ['AES-256-GCM', AeadAlgorithm.Aes256Gcm],
    ] as const) {
      const transformer = column.boundTo({ algorithm });
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
}

void main();
