/**
 * Documents (docs/documents.md#file-format): streaming encryption and decryption of a 100 MB
 * stream, both algorithms: in memory (the encryption itself: the `docs.*MBps` keys) and through the
 * app's own path to and from disk (`createEncryptStream` → `DocumentFiles.write`, `openRead` →
 * `createDecryptStream`) beside a plain copy to and from disk in the same run; and the peak RSS
 * growth of one encrypt + decrypt in a fresh process.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { loadAppConfig } from '../../src/config/app-config';
import {
  generateDataKey,
  createDecryptStream,
  createEncryptStream,
  StreamAlgorithm,
} from '@vault-pii/nest-encryption/crypto';
import { DocumentFiles } from '../../src/documents/document-files';
import { BenchSection } from '../support/bench-context';
import { interleave, renderTable, summaryCells } from '../support/stats';
import { sourceStream } from './source-stream';

const execFileAsync = promisify(execFile);

const MB = 1_000_000;
const SOURCE_CHUNK_BYTES = 64 * 1024;

export const runDocumentsBench: BenchSection = async (context) => {
  const streamBytes = (context.quick ? 20 : 100) * MB;
  const rounds = context.quick ? 3 : 5;
  const files = new DocumentFiles(
    loadAppConfig({
      NODE_ENV: 'test',
      DATA_DIR: context.scratchDir,
      APP_MASTER_KEY: randomBytes(32).toString('base64'),
    }),
  );
  const dataKey = generateDataKey();
  const aad = Buffer.from('bench-document');
  const source = randomBytes(SOURCE_CHUNK_BYTES);

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
    if (received !== streamBytes)
      throw new Error(
        `documents bench: read ${received} bytes of ${streamBytes}`,
      );
    return streamBytes / MB / seconds(start);
  };
  const encrypt = (algorithm: StreamAlgorithm) =>
    createEncryptStream(dataKey, { algorithm, keyVersion: 1, aad });
  const decrypt = () =>
    createDecryptStream(
      (version) => (version === 1 ? dataKey : undefined),
      aad,
    );

  context.progress(
    `documents: ${streamBytes / MB} MB streams, ${rounds} rounds`,
  );
  await files.write(
    'warm-up',
    sourceStream(source, 4 * MB),
    encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305),
  );
  // Peak RSS growth of one encrypt + decrypt through disk, in a fresh process, for a tenth of the
  // stream and the full stream: flat memory means the two are about the same.
  const smallGrowthMB =
    (await childGrowth(streamBytes / 10, context.scratchDir)) / MB;
  const rssGrowthMB = (await childGrowth(streamBytes, context.scratchDir)) / MB;
  // Ciphertext held in memory for the decrypt-only variants.
  const sealedInMemory = {
    xchacha: await collect(
      sourceStream(source, streamBytes),
      encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305),
    ),
    gcm: await collect(
      sourceStream(source, streamBytes),
      encrypt(StreamAlgorithm.SegmentedAes256Gcm),
    ),
  };
  /** MB/s of `stages` between an in-memory source and a discarding sink (no disk). */
  const timeInMemory = async (
    input: () => Readable,
    ...stages: NodeJS.ReadWriteStream[]
  ) => {
    const start = process.hrtime.bigint();
    await pipeline([
      input(),
      ...stages,
      new Writable({
        highWaterMark: SOURCE_CHUNK_BYTES,
        write: (_chunk, _encoding, done) => done(),
      }),
    ]);
    return streamBytes / MB / seconds(start);
  };
  const results = await interleave(rounds, {
    'encrypt secretstream, in memory': () =>
      timeInMemory(
        () => sourceStream(source, streamBytes),
        encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305),
      ),
    'encrypt AES-256-GCM, in memory': () =>
      timeInMemory(
        () => sourceStream(source, streamBytes),
        encrypt(StreamAlgorithm.SegmentedAes256Gcm),
      ),
    'decrypt secretstream, in memory': () =>
      timeInMemory(() => Readable.from(sealedInMemory.xchacha), decrypt()),
    'decrypt AES-256-GCM, in memory': () =>
      timeInMemory(() => Readable.from(sealedInMemory.gcm), decrypt()),
    'plain copy to disk': () => timeWrite('plain'),
    'encrypt secretstream to disk': () =>
      timeWrite(
        'xchacha',
        encrypt(StreamAlgorithm.SecretStreamXChaCha20Poly1305),
      ),
    'encrypt AES-256-GCM to disk': () =>
      timeWrite('gcm', encrypt(StreamAlgorithm.SegmentedAes256Gcm)),
    'plain read from disk': async () => timeRead('plain'),
    'decrypt secretstream from disk': async () =>
      timeRead('xchacha', decrypt()),
    'decrypt AES-256-GCM from disk': async () => timeRead('gcm', decrypt()),
  });
  for (const id of ['warm-up', 'plain', 'xchacha', 'gcm'])
    await files.delete(id);

  const rows = [['variant', 'MB/s median', 'min', 'max']];
  for (const [name, summary] of Object.entries(results))
    rows.push([name, ...summaryCells(summary)]);
  const report =
    renderTable(
      `documents: ${streamBytes / MB} MB streams, in memory (the encryption itself) and to/from disk (the app's path), ${rounds} rounds interleaved (MB = 10^6 bytes)`,
      rows,
    ) +
    `  peak RSS growth, one encrypt to disk + decrypt from disk (secretstream) in a fresh process: ` +
    `${rssGrowthMB.toFixed(1)} MB for ${streamBytes / MB} MB, ${smallGrowthMB.toFixed(1)} MB for ${streamBytes / MB / 10} MB\n`;
  return {
    metrics: {
      'docs.encryptMBps': results['encrypt secretstream, in memory'].median,
      'docs.decryptMBps': results['decrypt secretstream, in memory'].median,
      'docs.rssGrowthMB': rssGrowthMB,
    },
    extra: {
      'docs.encryptGcmMBps': results['encrypt AES-256-GCM, in memory'].median,
      'docs.decryptGcmMBps': results['decrypt AES-256-GCM, in memory'].median,
      'docs.encryptToDiskMBps': results['encrypt secretstream to disk'].median,
      'docs.decryptFromDiskMBps':
        results['decrypt secretstream from disk'].median,
      'docs.plainWriteMBps': results['plain copy to disk'].median,
      'docs.plainReadMBps': results['plain read from disk'].median,
      'docs.rssGrowthMBTenthSize': smallGrowthMB,
    },
    report,
  };
};

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Every chunk `stages` make of `input`, in memory. */
async function collect(
  input: Readable,
  ...stages: NodeJS.ReadWriteStream[]
): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  await pipeline([
    input,
    ...stages,
    new Writable({
      write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()),
    }),
  ]);
  return chunks;
}

/** Peak RSS growth (bytes) of one encrypt + decrypt of `bytes` in a fresh process. */
async function childGrowth(bytes: number, dataDir: string): Promise<number> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [
      '--expose-gc',
      '-r',
      'ts-node/register/transpile-only',
      join(__dirname, 'stream-memory.child.ts'),
      String(bytes),
      dataDir,
    ],
    {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
    },
  );
  return (
    JSON.parse(stdout.trim().split('\n').pop()!) as { growthBytes: number }
  ).growthBytes;
}
