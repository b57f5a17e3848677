import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import sodium from 'sodium-native';
import {
  AuthenticationFailedError,
  InvalidCryptoInputError,
  TruncatedEnvelopeError,
  UnknownKeyVersionError,
  UnsupportedEnvelopeError,
} from './errors';
import { hkdfSha256 } from './kdf';
import { secureAlloc, zeroBuffer } from './secure-memory';

/**
 * Streaming AEAD for document files (docs/design.md#stream-format). One file:
 *
 *   offset  0  magic            4 bytes  "VPS1"
 *   offset  4  format version   1 byte   (1)
 *   offset  5  algorithm id     1 byte   (1 = secretstream XChaCha20-Poly1305, 2 = segmented AES-256-GCM)
 *   offset  6  key version      4 bytes  unsigned big-endian: which DEK version sealed the file
 *   offset 10  chunk size       4 bytes  unsigned big-endian: plaintext bytes per chunk (16 B … 8 MiB)
 *   offset 14  file salt       32 bytes  random; per-file key = HKDF(DEK, "document-stream/<alg>", salt)
 *   offset 46  algorithm part  24 bytes  alg 1: the secretstream header (its random nonce)
 *                                        alg 2: 8-byte random nonce prefix, then 16 zero bytes (reserved)
 *   offset 70  chunks
 *
 * Chunks have no length prefix. Every chunk but the last carries exactly `chunk size` plaintext
 * bytes, so on disk it is exactly `chunk size + overhead` bytes (overhead: 17 for secretstream,
 * its tag byte and MAC; 16 for GCM, its tag). The last chunk is marked final inside the
 * authenticated data (secretstream's TAG_FINAL, or GCM's final-flag AAD byte) and holds
 * 1 … `chunk size` bytes; it is empty only in an empty file (one empty final chunk). So a file
 * of n bytes is 70 + n + max(1, ⌈n / chunk size⌉) × overhead bytes long. The reader never trusts
 * a length from the file beyond `chunk size + overhead`, and `chunk size` itself is capped before
 * anything is allocated.
 *
 * Why the last chunk is never empty after data: the reader emits a chunk once it verified and a
 * byte after it has arrived, and the last chunk only once its final mark verified. If a writer
 * ended full files with an empty final chunk, cutting or replacing just that chunk would let the
 * reader emit all the data before failing; with data in the final chunk, a truncated or extended
 * file always yields a strict prefix before the error.
 *
 * What is authenticated:
 * - alg 1: the 70 header bytes ‖ caller AAD are the additional data of the first chunk;
 *   secretstream's own chaining (per-message counter inside its state) makes every later chunk
 *   depend on position, and TAG_FINAL marks the end.
 * - alg 2 (the STREAM construction of Hoang–Reyhanitabar–Rogaway–Vizár, as in Tink's
 *   AesGcmHkdfStreaming): segment i uses nonce = prefix ‖ u32 BE i and AAD =
 *   header ‖ caller AAD ‖ u32 BE i ‖ final flag (1 on the last segment, else 0).
 * So a changed header byte, reordered, duplicated or dropped chunk, a truncated file or bytes
 * appended after the final chunk all fail.
 *
 * The decrypting stream holds back each chunk until it has verified (and, for the last one,
 * until its final mark verified), so it never emits unauthenticated plaintext; a truncated file
 * yields an error after a strict prefix of the plaintext, never the whole of it.
 *
 * Memory: each direction stages at most one chunk and pushes each chunk as it is sealed or
 * opened, so Transform backpressure applies per chunk. The one exception is a single huge write:
 * its chunks are all pushed before the write completes (output ≈ that write's size). Feed
 * ordinary stream-sized writes (fs streams use 64 KiB).
 *
 * Per-file keys and the secretstream state are zeroed when the stream ends, fails or is
 * destroyed. GCM hands the key to OpenSSL per segment (node:crypto cannot zero its copies).
 */
const STREAM_MAGIC = Buffer.from('VPS1', 'latin1');
export const STREAM_FORMAT_VERSION = 1;
export const STREAM_HEADER_BYTES = 70;
export const STREAM_FILE_SALT_BYTES = 32;
export const DEFAULT_STREAM_CHUNK_BYTES = 64 * 1024;
export const MIN_STREAM_CHUNK_BYTES = 16;
/** Caps what a (not yet authenticated) header can make the reader allocate. */
export const MAX_STREAM_CHUNK_BYTES = 8 * 1024 * 1024;

export enum StreamAlgorithm {
  /** libsodium crypto_secretstream_xchacha20poly1305: the default. */
  SecretStreamXChaCha20Poly1305 = 1,
  /** AES-256-GCM segments (node:crypto), for deployments that require FIPS-approved algorithms. */
  SegmentedAes256Gcm = 2,
}

export interface StreamEncryptOptions {
  algorithm: StreamAlgorithm;
  keyVersion: number;
  /** binds the file to its owner/document */
  aad: Buffer;
  /** Plaintext bytes per chunk; default 64 KiB. */
  chunkBytes?: number;
  /**
   * Zero each written plaintext chunk once it has been sealed or copied to the staging buffer
   * (before the write's callback runs), for writers that own their chunks: no plaintext copy
   * outlives its encryption. Default false: the caller's buffers are left alone.
   */
  wipeInput?: boolean;
}

export interface StreamHeader {
  formatVersion: number;
  algorithm: StreamAlgorithm;
  keyVersion: number;
  chunkBytes: number;
}

const OFFSET_FORMAT_VERSION = 4;
const OFFSET_ALGORITHM = 5;
const OFFSET_KEY_VERSION = 6;
const OFFSET_CHUNK_BYTES = 10;
const OFFSET_FILE_SALT = 14;
const OFFSET_ALGORITHM_HEADER = 46;
const FILE_KEY_BYTES = 32;

const SS_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
const SS_HEADER_BYTES =
  sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
const SS_STATE_BYTES: number = (
  sodium as unknown as {
    crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
  }
).crypto_secretstream_xchacha20poly1305_STATEBYTES;
// sodium-native 5 exposes the tags as numbers (its @types still say Buffer).
const SS_TAG_MESSAGE =
  sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE as unknown as number;
const SS_TAG_FINAL =
  sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL as unknown as number;

const GCM_TAG_BYTES = 16;
const GCM_NONCE_PREFIX_BYTES = 8;
const GCM_NONCE_BYTES = 12;
const GCM_MAX_SEGMENTS = 0x1_0000_0000;

/** sodium-native 5's secretstream calls: the state is a caller-owned STATEBYTES buffer. */
const secretstream = sodium as unknown as {
  crypto_secretstream_xchacha20poly1305_init_push(
    state: Buffer,
    header: Buffer,
    key: Buffer,
  ): void;
  crypto_secretstream_xchacha20poly1305_init_pull(
    state: Buffer,
    header: Buffer,
    key: Buffer,
  ): void;
  crypto_secretstream_xchacha20poly1305_push(
    state: Buffer,
    c: Buffer,
    m: Buffer,
    ad: Buffer | null,
    tag: number,
  ): number;
  crypto_secretstream_xchacha20poly1305_pull(
    state: Buffer,
    m: Buffer,
    tag: Buffer,
    c: Buffer,
    ad: Buffer | null,
  ): number;
};

const OVERHEAD: Record<StreamAlgorithm, number> = {
  [StreamAlgorithm.SecretStreamXChaCha20Poly1305]: SS_ABYTES,
  [StreamAlgorithm.SegmentedAes256Gcm]: GCM_TAG_BYTES,
};

/** Reads and checks the fixed-size header (for tools and tests); does not authenticate it. */
export function readStreamHeader(firstBytes: Buffer): StreamHeader {
  if (firstBytes.length < STREAM_HEADER_BYTES) {
    throw new TruncatedEnvelopeError(
      `stream of ${firstBytes.length} bytes is shorter than its ${STREAM_HEADER_BYTES}-byte header`,
    );
  }
  if (!firstBytes.subarray(0, STREAM_MAGIC.length).equals(STREAM_MAGIC)) {
    throw new UnsupportedEnvelopeError(
      'not an encrypted document stream (bad magic)',
    );
  }
  const formatVersion = firstBytes[OFFSET_FORMAT_VERSION];
  if (formatVersion !== STREAM_FORMAT_VERSION) {
    throw new UnsupportedEnvelopeError(
      `unknown stream format version ${formatVersion}`,
    );
  }
  const algorithm = firstBytes[OFFSET_ALGORITHM] as StreamAlgorithm;
  if (OVERHEAD[algorithm] === undefined)
    throw new UnsupportedEnvelopeError(
      `unknown stream algorithm id ${algorithm}`,
    );
  const chunkBytes = firstBytes.readUInt32BE(OFFSET_CHUNK_BYTES);
  if (
    chunkBytes < MIN_STREAM_CHUNK_BYTES ||
    chunkBytes > MAX_STREAM_CHUNK_BYTES
  ) {
    throw new UnsupportedEnvelopeError(
      `stream chunk size ${chunkBytes} is outside ${MIN_STREAM_CHUNK_BYTES}…${MAX_STREAM_CHUNK_BYTES}`,
    );
  }
  return {
    formatVersion,
    algorithm,
    keyVersion: firstBytes.readUInt32BE(OFFSET_KEY_VERSION),
    chunkBytes,
  };
}

/**
 * Transform: plaintext in, encrypted file bytes out (header first). The per-file key is derived
 * inside from dataKey and a random 32-byte file salt kept in the header; `dataKey` is not kept.
 */
export function createEncryptStream(
  dataKey: Buffer,
  options: StreamEncryptOptions,
): Transform {
  const { algorithm, keyVersion, aad } = options;
  const chunkBytes = options.chunkBytes ?? DEFAULT_STREAM_CHUNK_BYTES;
  if (dataKey.length !== FILE_KEY_BYTES)
    throw new InvalidCryptoInputError(`data keys are ${FILE_KEY_BYTES} bytes`);
  if (OVERHEAD[algorithm] === undefined)
    throw new InvalidCryptoInputError(`unknown stream algorithm ${algorithm}`);
  if (
    !Number.isInteger(keyVersion) ||
    keyVersion < 0 ||
    keyVersion > 0xffffffff
  ) {
    throw new InvalidCryptoInputError(
      'key version must be a 32-bit unsigned integer',
    );
  }
  if (
    !Number.isInteger(chunkBytes) ||
    chunkBytes < MIN_STREAM_CHUNK_BYTES ||
    chunkBytes > MAX_STREAM_CHUNK_BYTES
  ) {
    throw new InvalidCryptoInputError(
      `chunk size must be an integer in ${MIN_STREAM_CHUNK_BYTES}…${MAX_STREAM_CHUNK_BYTES}`,
    );
  }
  if (!Buffer.isBuffer(aad))
    throw new InvalidCryptoInputError('aad must be a Buffer');

  const header = Buffer.alloc(STREAM_HEADER_BYTES);
  STREAM_MAGIC.copy(header, 0);
  header[OFFSET_FORMAT_VERSION] = STREAM_FORMAT_VERSION;
  header[OFFSET_ALGORITHM] = algorithm;
  header.writeUInt32BE(keyVersion, OFFSET_KEY_VERSION);
  header.writeUInt32BE(chunkBytes, OFFSET_CHUNK_BYTES);
  randomFillSync(header, OFFSET_FILE_SALT, STREAM_FILE_SALT_BYTES);
  const fileKey = deriveFileKey(dataKey, algorithm, header);

  const sealer =
    algorithm === StreamAlgorithm.SecretStreamXChaCha20Poly1305
      ? new SecretStreamSealer(fileKey, header, aad)
      : new GcmSegmentSealer(fileKey, header, aad);
  return new EncryptStream(
    sealer,
    header,
    chunkBytes,
    options.wipeInput ?? false,
  );
}

/**
 * Transform: encrypted file bytes in, plaintext out. `keyForVersion` picks the DEK by the header's
 * key version (it is called once, when the header has arrived; an error it throws is passed on
 * as is). Failures are CryptoError subclasses; a chunk's plaintext is emitted only after that
 * chunk authenticated.
 */
export function createDecryptStream(
  keyForVersion: (keyVersion: number) => Buffer | undefined,
  aad: Buffer,
): Transform {
  if (!Buffer.isBuffer(aad))
    throw new InvalidCryptoInputError('aad must be a Buffer');
  return new DecryptStream(keyForVersion, aad);
}

function deriveFileKey(
  dataKey: Buffer,
  algorithm: StreamAlgorithm,
  header: Buffer,
): Buffer {
  const fileSalt = header.subarray(
    OFFSET_FILE_SALT,
    OFFSET_FILE_SALT + STREAM_FILE_SALT_BYTES,
  );
  return hkdfSha256(
    dataKey,
    `document-stream/${algorithm}`,
    FILE_KEY_BYTES,
    fileSalt,
  );
}

function concatAad(header: Buffer, aad: Buffer, trailerBytes: number): Buffer {
  const out = Buffer.alloc(header.length + aad.length + trailerBytes);
  header.copy(out, 0);
  aad.copy(out, header.length);
  return out;
}

// ─── per-algorithm chunk sealing/opening ────────────────────────────────────────────────────────

interface ChunkSealer {
  readonly overhead: number;
  /** Encrypts one chunk; returns the buffers to emit, in order. */
  seal(plaintext: Buffer, final: boolean): Buffer[];
  wipe(): void;
}

interface ChunkOpener {
  readonly overhead: number;
  /** Decrypts and verifies one chunk (ciphertext ‖ tag); throws a CryptoError rather than return unverified bytes. */
  open(chunk: Buffer, final: boolean): Buffer;
  wipe(): void;
}

class SecretStreamSealer implements ChunkSealer {
  readonly overhead = SS_ABYTES;
  /** Holds the chunk key: locked memory. */
  private readonly state = secureAlloc(SS_STATE_BYTES);
  private firstAd: Buffer | null;

  constructor(
    private readonly fileKey: Buffer,
    header: Buffer,
    aad: Buffer,
  ) {
    const ssHeader = header.subarray(
      OFFSET_ALGORITHM_HEADER,
      OFFSET_ALGORITHM_HEADER + SS_HEADER_BYTES,
    );
    // init_push writes its random nonce into the header slice, which the first chunk then authenticates.
    secretstream.crypto_secretstream_xchacha20poly1305_init_push(
      this.state,
      ssHeader,
      fileKey,
    );
    this.firstAd = concatAad(header, aad, 0);
  }

  seal(plaintext: Buffer, final: boolean): Buffer[] {
    const out = Buffer.allocUnsafe(plaintext.length + SS_ABYTES);
    secretstream.crypto_secretstream_xchacha20poly1305_push(
      this.state,
      out,
      plaintext,
      this.firstAd,
      final ? SS_TAG_FINAL : SS_TAG_MESSAGE,
    );
    this.firstAd = null;
    return [out];
  }

  wipe(): void {
    zeroBuffer(this.state, this.fileKey);
  }
}

class SecretStreamOpener implements ChunkOpener {
  readonly overhead = SS_ABYTES;
  /** Holds the chunk key: locked memory. */
  private readonly state = secureAlloc(SS_STATE_BYTES);
  private readonly tag = Buffer.alloc(1);
  private firstAd: Buffer | null;

  constructor(
    private readonly fileKey: Buffer,
    header: Buffer,
    aad: Buffer,
  ) {
    const ssHeader = header.subarray(
      OFFSET_ALGORITHM_HEADER,
      OFFSET_ALGORITHM_HEADER + SS_HEADER_BYTES,
    );
    secretstream.crypto_secretstream_xchacha20poly1305_init_pull(
      this.state,
      ssHeader,
      fileKey,
    );
    this.firstAd = concatAad(header, aad, 0);
  }

  open(chunk: Buffer, final: boolean): Buffer {
    const plaintext = Buffer.allocUnsafe(chunk.length - SS_ABYTES);
    try {
      secretstream.crypto_secretstream_xchacha20poly1305_pull(
        this.state,
        plaintext,
        this.tag,
        chunk,
        this.firstAd,
      );
    } catch {
      zeroBuffer(plaintext);
      throw new AuthenticationFailedError();
    }
    this.firstAd = null;
    const tag = this.tag[0];
    if (tag === (final ? SS_TAG_FINAL : SS_TAG_MESSAGE)) return plaintext;
    zeroBuffer(plaintext);
    if (tag === SS_TAG_MESSAGE)
      throw new TruncatedEnvelopeError('stream ended before its final chunk');
    // A verified FINAL with bytes after it (extension), or a tag this format never writes.
    throw new AuthenticationFailedError();
  }

  wipe(): void {
    zeroBuffer(this.state, this.fileKey);
  }
}

/** Shared by the GCM sealer and opener: nonce prefix, segment counter, per-segment nonce and AAD. */
class GcmSegments {
  private readonly nonce = Buffer.alloc(GCM_NONCE_BYTES);
  /** header ‖ caller AAD ‖ u32 counter ‖ final flag: the trailer is rewritten per segment. */
  private readonly aad: Buffer;
  private counter = 0;

  constructor(header: Buffer, callerAad: Buffer) {
    header.copy(
      this.nonce,
      0,
      OFFSET_ALGORITHM_HEADER,
      OFFSET_ALGORITHM_HEADER + GCM_NONCE_PREFIX_BYTES,
    );
    this.aad = concatAad(header, callerAad, 5);
  }

  /** Sets nonce and AAD for the current segment; `advance()` moves on once it was used. */
  prepare(final: boolean): { nonce: Buffer; aad: Buffer } {
    if (this.counter >= GCM_MAX_SEGMENTS)
      throw new InvalidCryptoInputError('stream exceeds 2^32 segments');
    this.nonce.writeUInt32BE(this.counter, GCM_NONCE_PREFIX_BYTES);
    this.aad.writeUInt32BE(this.counter, this.aad.length - 5);
    this.aad[this.aad.length - 1] = final ? 1 : 0;
    return { nonce: this.nonce, aad: this.aad };
  }

  advance(): void {
    this.counter += 1;
  }
}

class GcmSegmentSealer implements ChunkSealer {
  readonly overhead = GCM_TAG_BYTES;
  private readonly segments: GcmSegments;

  constructor(
    private readonly fileKey: Buffer,
    header: Buffer,
    aad: Buffer,
  ) {
    randomFillSync(header, OFFSET_ALGORITHM_HEADER, GCM_NONCE_PREFIX_BYTES);
    this.segments = new GcmSegments(header, aad);
  }

  seal(plaintext: Buffer, final: boolean): Buffer[] {
    const { nonce, aad } = this.segments.prepare(final);
    const cipher = createCipheriv('aes-256-gcm', this.fileKey, nonce, {
      authTagLength: GCM_TAG_BYTES,
    });
    cipher.setAAD(aad);
    const ciphertext = cipher.update(plaintext);
    cipher.final(); // GCM emits nothing here
    this.segments.advance();
    return [ciphertext, cipher.getAuthTag()];
  }

  wipe(): void {
    zeroBuffer(this.fileKey);
  }
}

class GcmSegmentOpener implements ChunkOpener {
  readonly overhead = GCM_TAG_BYTES;
  private readonly segments: GcmSegments;

  constructor(
    private readonly fileKey: Buffer,
    header: Buffer,
    aad: Buffer,
  ) {
    this.segments = new GcmSegments(header, aad);
  }

  open(chunk: Buffer, final: boolean): Buffer {
    const plaintext = this.tryOpen(chunk, final);
    if (plaintext) {
      this.segments.advance();
      return plaintext;
    }
    // Only to name the failure: a last segment that verifies as non-final means the file was cut
    // at a segment boundary. Its plaintext is wiped, never emitted.
    if (final) {
      const notFinal = this.tryOpen(chunk, false);
      if (notFinal) {
        zeroBuffer(notFinal);
        throw new TruncatedEnvelopeError(
          'stream ended before its final segment',
        );
      }
    }
    throw new AuthenticationFailedError();
  }

  /** GCM's update() releases plaintext before final() checks the tag: wiped unless it verifies. */
  private tryOpen(chunk: Buffer, final: boolean): Buffer | undefined {
    const { nonce, aad } = this.segments.prepare(final);
    const bodyLength = chunk.length - GCM_TAG_BYTES;
    let plaintext: Buffer | undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.fileKey, nonce, {
        authTagLength: GCM_TAG_BYTES,
      });
      decipher.setAAD(aad);
      decipher.setAuthTag(chunk.subarray(bodyLength));
      plaintext = decipher.update(chunk.subarray(0, bodyLength));
      decipher.final();
      return plaintext;
    } catch {
      zeroBuffer(plaintext);
      return undefined;
    }
  }

  wipe(): void {
    zeroBuffer(this.fileKey);
  }
}

// ─── the Transforms ────────────────────────────────────────────────────────────────────────────

/**
 * Chunks the plaintext: a full chunk is sealed as non-final only once a byte after it has arrived,
 * so the last chunk (full or not, never empty unless the file is) is sealed final in _flush. Whole
 * chunks followed by more bytes of the same write are sealed in place; the rest is copied to the
 * one-chunk staging buffer.
 */
class EncryptStream extends Transform {
  private readonly staged: Buffer;
  private stagedBytes = 0;
  private headerSent = false;
  private wiped = false;

  constructor(
    private readonly sealer: ChunkSealer,
    private readonly header: Buffer,
    private readonly chunkBytes: number,
    private readonly wipeInput: boolean,
  ) {
    super();
    this.staged = Buffer.alloc(chunkBytes);
  }

  override _transform(
    data: Buffer,
    _encoding: BufferEncoding,
    callback: TransformCallback,
  ): void {
    try {
      this.sendHeader();
      const { chunkBytes, staged } = this;
      let offset = 0;
      while (offset < data.length) {
        if (this.stagedBytes === chunkBytes) {
          this.pushAll(this.sealer.seal(staged, false));
          this.stagedBytes = 0;
        }
        const remaining = data.length - offset;
        if (this.stagedBytes === 0 && remaining > chunkBytes) {
          this.pushAll(
            this.sealer.seal(data.subarray(offset, offset + chunkBytes), false),
          );
          offset += chunkBytes;
          continue;
        }
        const n = Math.min(chunkBytes - this.stagedBytes, remaining);
        data.copy(staged, this.stagedBytes, offset, offset + n);
        this.stagedBytes += n;
        offset += n;
      }
      callback();
    } catch (error) {
      callback(error as Error);
    } finally {
      if (this.wipeInput) zeroBuffer(data);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.sendHeader();
      this.pushAll(
        this.sealer.seal(this.staged.subarray(0, this.stagedBytes), true),
      );
      this.wipe();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _destroy(
    error: Error | null,
    callback: (error?: Error | null) => void,
  ): void {
    this.wipe();
    callback(error);
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.push(this.header);
  }

  private pushAll(buffers: Buffer[]): void {
    for (const buffer of buffers) this.push(buffer);
  }

  private wipe(): void {
    if (this.wiped) return;
    this.wiped = true;
    this.sealer.wipe();
    zeroBuffer(this.staged);
  }
}

/**
 * Frames the ciphertext into chunks of `chunk size + overhead`: a full chunk is opened as
 * non-final only once a byte after it has arrived; whatever is pending at the end of input is the
 * last chunk and must carry the final mark. At most one chunk is staged.
 */
class DecryptStream extends Transform {
  private readonly header = Buffer.alloc(STREAM_HEADER_BYTES);
  private headerBytes = 0;
  private opener: ChunkOpener | undefined;
  private pending: Buffer | undefined;
  private pendingBytes = 0;
  private segmentBytes = 0;

  constructor(
    private readonly keyForVersion: (keyVersion: number) => Buffer | undefined,
    private readonly aad: Buffer,
  ) {
    super();
  }

  override _transform(
    data: Buffer,
    _encoding: BufferEncoding,
    callback: TransformCallback,
  ): void {
    try {
      let offset = 0;
      if (!this.opener) {
        const n = Math.min(STREAM_HEADER_BYTES - this.headerBytes, data.length);
        data.copy(this.header, this.headerBytes, 0, n);
        this.headerBytes += n;
        offset = n;
        if (this.headerBytes < STREAM_HEADER_BYTES) return callback();
        this.start();
      }
      const opener = this.opener as ChunkOpener;
      const pending = this.pending as Buffer;
      const segmentBytes = this.segmentBytes;
      while (offset < data.length) {
        if (this.pendingBytes === segmentBytes) {
          this.push(opener.open(pending, false));
          this.pendingBytes = 0;
        }
        const remaining = data.length - offset;
        if (this.pendingBytes === 0 && remaining > segmentBytes) {
          this.push(
            opener.open(data.subarray(offset, offset + segmentBytes), false),
          );
          offset += segmentBytes;
          continue;
        }
        const n = Math.min(segmentBytes - this.pendingBytes, remaining);
        data.copy(pending, this.pendingBytes, offset, offset + n);
        this.pendingBytes += n;
        offset += n;
      }
      callback();
    } catch (error) {
      this.fail(callback, error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.opener) {
        throw new TruncatedEnvelopeError(
          `stream of ${this.headerBytes} bytes is shorter than its ${STREAM_HEADER_BYTES}-byte header`,
        );
      }
      if (this.pendingBytes < this.opener.overhead) {
        throw new TruncatedEnvelopeError('stream ended before its final chunk');
      }
      this.push(
        this.opener.open(
          (this.pending as Buffer).subarray(0, this.pendingBytes),
          true,
        ),
      );
      this.wipe();
      callback();
    } catch (error) {
      this.fail(callback, error);
    }
  }

  override _destroy(
    error: Error | null,
    callback: (error?: Error | null) => void,
  ): void {
    this.wipe();
    callback(error);
  }

  private start(): void {
    const { algorithm, keyVersion, chunkBytes } = readStreamHeader(this.header);
    const dataKey = this.keyForVersion(keyVersion);
    if (!dataKey) throw new UnknownKeyVersionError(keyVersion);
    if (dataKey.length !== FILE_KEY_BYTES)
      throw new InvalidCryptoInputError(
        `data keys are ${FILE_KEY_BYTES} bytes`,
      );
    const fileKey = deriveFileKey(dataKey, algorithm, this.header);
    this.opener =
      algorithm === StreamAlgorithm.SecretStreamXChaCha20Poly1305
        ? new SecretStreamOpener(fileKey, this.header, this.aad)
        : new GcmSegmentOpener(fileKey, this.header, this.aad);
    this.segmentBytes = chunkBytes + this.opener.overhead;
    this.pending = Buffer.allocUnsafe(this.segmentBytes);
  }

  private fail(callback: TransformCallback, error: unknown): void {
    this.wipe();
    callback(error as Error);
  }

  private wipe(): void {
    this.opener?.wipe();
  }
}
