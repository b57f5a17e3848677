/**
 * Child process of the documents bench: one encrypt to disk and one decrypt from disk of
 * `argv[2]` bytes through the app's path, printing the peak RSS growth above the level after
 * start-up as JSON. A fresh process, so that earlier sections' heap does not hide the growth.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadAppConfig } from '../../src/config/app-config';
import {
  generateDataKey,
  createDecryptStream,
  createEncryptStream,
  StreamAlgorithm,
} from '@vault-pii/nest-encryption/crypto';
import { DocumentFiles } from '../../src/documents/document-files';
import { sourceStream } from './source-stream';

async function main(): Promise<void> {
  const [bytesArgument, dataDir] = process.argv.slice(2);
  const bytes = Number(bytesArgument);
  const files = new DocumentFiles(
    loadAppConfig({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
    }),
  );
  const dataKey = generateDataKey();
  const aad = Buffer.from('bench-document');
  const chunk = randomBytes(64 * 1024);
  const id = `rss-${process.pid}`;
  // Warm every code path on a small stream first, then measure from there.
  const once = async (size: number) => {
    await files.write(
      id,
      sourceStream(chunk, size),
      createEncryptStream(dataKey, {
        algorithm: StreamAlgorithm.SecretStreamXChaCha20Poly1305,
        keyVersion: 1,
        aad,
      }),
    );
    await pipeline([
      files.openRead(id),
      createDecryptStream(
        (version) => (version === 1 ? dataKey : undefined),
        aad,
      ),
      new Writable({ write: (_chunk, _encoding, done) => done() }),
    ]);
  };
  await once(1_000_000);
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(
    () => (peak = Math.max(peak, process.memoryUsage.rss())),
    5,
  );
  await once(bytes);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  await files.delete(id);
  process.stdout.write(JSON.stringify({ growthBytes: peak - baseline }) + '\n');
}

void main();
