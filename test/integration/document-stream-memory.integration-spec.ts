import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AppConfig, loadAppConfig } from '../../src/config/app-config';
import {
  createDecryptStream,
  createEncryptStream,
  StreamAlgorithm,
} from '@vault-pii/nest-encryption/crypto';
import { DocumentFiles } from '../../src/documents/document-files';

const TOTAL_BYTES = 50 * 1024 * 1024;
const SLICE_BYTES = 64 * 1024;
/** Allowed growth of heap + ArrayBuffers while 50 MB stream through (a buffered file would be ≥ 50 MB). */
const FLAT_LIMIT_BYTES = 24 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'major' }) => void;

function memory(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** 50 MB of pseudo-random bytes produced slice by slice (never held whole), hashed as it goes. */
function plaintextSource(hash: ReturnType<typeof createHash>): Readable {
  let produced = 0;
  const seed = randomBytes(SLICE_BYTES);
  return new Readable({
    read() {
      if (produced >= TOTAL_BYTES) return void this.push(null);
      const slice = Buffer.from(seed);
      slice.writeUInt32BE(produced / SLICE_BYTES, 0);
      produced += slice.length;
      hash.update(slice);
      this.push(slice);
    },
  });
}

/** Samples memory (after a forced major GC) every 5 MB that passes, keeping the peak. */
function sampler(): { onBytes(n: number): void; peakGrowth(): number } {
  gc({ type: 'major' });
  const baseline = memory();
  let peak = 0;
  let sinceSample = 0;
  return {
    onBytes(n) {
      sinceSample += n;
      if (sinceSample < 5 * 1024 * 1024) return;
      sinceSample = 0;
      gc({ type: 'major' });
      peak = Math.max(peak, memory() - baseline);
    },
    peakGrowth: () => peak,
  };
}

describe('documents: a 50 MB stream through encryption to disk and back keeps memory flat', () => {
  let dataDir: string;
  let files: DocumentFiles;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'doc-stream-'));
    const config: AppConfig = loadAppConfig({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    files = new DocumentFiles(config);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it.each([
    [
      'secretstream XChaCha20-Poly1305',
      StreamAlgorithm.SecretStreamXChaCha20Poly1305,
    ],
    ['segmented AES-256-GCM', StreamAlgorithm.SegmentedAes256Gcm],
  ])('%s', async (name, algorithm) => {
    const key = randomBytes(32);
    const aad = Buffer.from('document\u0000owner\u0000doc');
    const id =
      '00000000-0000-4000-8000-0000000000' + String(algorithm).padStart(2, '0');
    const writtenHash = createHash('sha256');

    const writeSampler = sampler();
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        writeSampler.onBytes(chunk.length);
        done(null, chunk);
      },
    });
    const fileBytes = await files.write(
      id,
      plaintextSource(writtenHash),
      meter,
      createEncryptStream(key, { algorithm, keyVersion: 1, aad }),
    );
    expect(fileBytes).toBeGreaterThan(TOTAL_BYTES);
    expect(statSync(files.pathOf(id)).size).toBe(fileBytes);

    const readSampler = sampler();
    const readHash = createHash('sha256');
    let readBytes = 0;
    await pipeline(
      files.openRead(id),
      createDecryptStream(() => key, aad),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          readHash.update(chunk);
          readBytes += chunk.length;
          readSampler.onBytes(chunk.length);
          done();
        },
      }),
    );

    expect(readBytes).toBe(TOTAL_BYTES);
    expect(readHash.digest('hex')).toBe(writtenHash.digest('hex'));
    const growth = {
      write: writeSampler.peakGrowth(),
      read: readSampler.peakGrowth(),
    };
    process.stdout.write(
      `\n50 MB document stream, ${name}: peak growth of heap + buffers ${(growth.write / 1048576).toFixed(1)} MiB ` +
        `writing (encrypt + disk), ${(growth.read / 1048576).toFixed(1)} MiB reading (disk + decrypt)\n`,
    );
    expect(growth.write).toBeLessThan(FLAT_LIMIT_BYTES);
    expect(growth.read).toBeLessThan(FLAT_LIMIT_BYTES);
    await files.delete(id);
  });
});
