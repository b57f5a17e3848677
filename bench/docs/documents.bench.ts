/**
 * Documents (SPEC §4): streaming encryption to disk and decryption from disk of a 100 MB stream
 * through the app's own path (`createEncryptStream` → `DocumentFiles.write`, `openRead` →
 * `createDecryptStream`), both algorithms, beside a plain copy to and from disk in the same run,
 * and the peak RSS growth while it runs.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadAppConfig } from '../../src/config/app-config';
import { generateDataKey } from '../../src/crypto/data-key';
import { createDecryptStream, createEncryptStream, StreamAlgorithm } from '../../src/crypto/stream-aead';
import { DocumentFiles } from '../../src/documents/document-files';
import { BenchSection } from '../support/bench-context';
import { interleave, renderTable, summaryCells } from '../support/stats';

const MB = 1_000_000;
const SOURCE_CHUNK_BYTES = 64 * 1024;

export const runDocumentsBench: BenchSection = async (context) => {
  const streamBytes = (context.quick ? 20 : 100) * MB;
  const rounds = context.quick ? 3 : 5;
  const files = new DocumentFiles(loadAppConfig({ NODE_ENV: 'test', DATA_DIR: context.scratchDir, APP_MASTER_KEY: randomBytes(32).toString('base64') }));
  const dataKey = generateDataKey();
  const aad = Buffer.from('bench-document');
  const source = randomBytes(SOURCE_CHUNK_BYTES);
  const rss = new PeakRss();

  /** Seconds to stream `streamBytes` through `stages` into the file `id`. */
  const timeWrite = async (id: string, ...stages: NodeJS.ReadWriteStream[]) => {
    const start = process.hrtime.bigint();
    await files.write(id, sourceStream(source, streamBytes), ...stages);
    return streamBytes / MB / seconds(start);
  };
  const timeRead = async (id: string, ...stages: NodeJS.ReadWriteStream[]) => {
    const start = process.hrtime.bigint();
    let received = 0;
    await pipeline([
      files.openRead(id),
      ...stages,
      new Writable({
        highWaterMark: SOURCE_CHUNK_BYTES,
        write(chunk: Buffer, _encoding, done) {
          received += chunk.length;
          done();
        },
      }),
    ]);
    if (received !== streamBytes) throw new Error(`documents bench: read ${received} bytes of ${streamBytes}`);
    return streamBytes / MB / seconds(start);
  };
  const encrypt = (algorithm: StreamAlgorithm) => createEncryptStream(dataKey, { algorithm, keyVersion: 1, aad });
  const decrypt = () => createDecryptStream((version) => (version === 1 ? dataKey : undefined), aad);

  context.progress(`documents: ${streamBytes / MB} MB streams, ${rounds} rounds`);
  await files.write('warm-up', sourceStream(source, 4 * MB), encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305));
  // Peak RSS growth of one encrypt + decrypt, for a small and the full stream: flat memory means
  // the two are about the same.
  const growthFor = async (bytes: number) => {
    rss.start();
    await files.write('rss', sourceStream(source, bytes), encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305));
    await pipeline([files.openRead('rss'), decrypt(), new Writable({ write: (_chunk, _encoding, done) => done() })]);
    return rss.stop() / MB;
  };
  const smallGrowthMB = await growthFor(streamBytes / 10);
  const rssGrowthMB = await growthFor(streamBytes);
  const results = await interleave(rounds, {
    'plain copy to disk': () => timeWrite('plain'),
    'encrypt secretstream': () => timeWrite('xchacha', encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305)),
    'encrypt AES-256-GCM': () => timeWrite('gcm', encrypt(StreamAlgorithm.SegmentedAes256Gcm)),
    'plain read from disk': async () => timeRead('plain'),
    'decrypt secretstream': async () => timeRead('xchacha', decrypt()),
    'decrypt AES-256-GCM': async () => timeRead('gcm', decrypt()),
  });
  for (const id of ['warm-up', 'plain', 'xchacha', 'gcm', 'rss']) await files.delete(id);

  const rows = [['variant', 'MB/s median', 'min', 'max']];
  for (const [name, summary] of Object.entries(results)) rows.push([name, ...summaryCells(summary)]);
  const report =
    renderTable(`documents: ${streamBytes / MB} MB stream to and from disk, ${rounds} rounds interleaved (MB = 10^6 bytes)`, rows) +
    `  peak RSS growth, one encrypt + decrypt (secretstream): ${rssGrowthMB.toFixed(1)} MB for ${streamBytes / MB} MB, ` +
    `${smallGrowthMB.toFixed(1)} MB for ${streamBytes / MB / 10} MB\n`;
  return {
    metrics: {
      'docs.encryptMBps': results['encrypt secretstream'].median,
      'docs.decryptMBps': results['decrypt secretstream'].median,
      'docs.rssGrowthMB': rssGrowthMB,
    },
    extra: {
      'docs.encryptGcmMBps': results['encrypt AES-256-GCM'].median,
      'docs.decryptGcmMBps': results['decrypt AES-256-GCM'].median,
      'docs.plainWriteMBps': results['plain copy to disk'].median,
      'docs.plainReadMBps': results['plain read from disk'].median,
      'docs.rssGrowthMBTenthSize': smallGrowthMB,
    },
    report,
  };
};

/** `total` bytes of `chunk` repeated, as a stream that respects back-pressure. */
function sourceStream(chunk: Buffer, total: number): Readable {
  let remaining = total;
  return new Readable({
    highWaterMark: chunk.length,
    read() {
      if (remaining <= 0) return void this.push(null);
      const size = Math.min(remaining, chunk.length);
      remaining -= size;
      // A copy per chunk, as a renderer would produce fresh buffers (and the pipeline may keep them).
      this.push(Buffer.from(chunk.subarray(0, size)));
    },
  });
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Samples RSS every 5 ms and reports the peak above the level at `start()`. */
class PeakRss {
  private baseline = 0;
  private peak = 0;
  private timer?: NodeJS.Timeout;

  start(): void {
    (globalThis as { gc?: () => void }).gc?.();
    this.baseline = process.memoryUsage.rss();
    this.peak = this.baseline;
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage.rss());
    }, 5);
  }

  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
    return this.peak - this.baseline;
  }
}
