import sodium from 'sodium-native';
import { InvalidCryptoInputError } from './errors';
import { secureAlloc, zeroBuffer } from './secure-memory';

/**
 * HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) over libsodium's SHA-256, with every
 * intermediate (padded key, hash states, PRK, T(i)) in one locked scratch buffer that is wiped
 * after each call, and the output written into a buffer the caller owns (secure memory for keys).
 *
 * Why not node:crypto's `hkdfSync`/`createHmac`: `hkdfSync` turns its input key into a
 * KeyObject, an OpenSSL-heap copy that lives until the garbage collector runs — a copy of a data
 * key in swappable, dumpable memory for every blind-index or file key derived
 * (docs/design.md#keys-in-memory); `createHmac().digest()` returns its output in a fresh ordinary
 * Buffer. libsodium exposes SHA-256 with a caller-provided state, so here nothing leaves locked
 * memory. The constructions are the RFCs' own; `hkdf.spec.ts` checks them against RFC 4231 and
 * RFC 5869 vectors and against node:crypto on random inputs.
 */
export const SHA256_BYTES = 32;
const BLOCK_BYTES = 64;

/** sodium-native 5's SHA-256 calls (its type package predates the streaming ones). */
const sha256 = sodium as unknown as {
  crypto_hash_sha256_STATEBYTES: number;
  crypto_hash_sha256(output: Buffer, input: Buffer): void;
  crypto_hash_sha256_init(state: Buffer): void;
  crypto_hash_sha256_update(state: Buffer, input: Buffer): void;
  crypto_hash_sha256_final(state: Buffer, output: Buffer): void;
};
const STATE_BYTES = sha256.crypto_hash_sha256_STATEBYTES;
const MAX_HKDF_BYTES = 255 * SHA256_BYTES;

/** Messages up to this size are hashed in one libsodium call, after the padded key in scratch. */
const INLINE_MESSAGE_BYTES = 448;

interface Scratch {
  all: Buffer;
  state: Buffer;
  /** (key ⊕ ipad) ‖ message, for the inner hash in one call. */
  inner: Buffer;
  /** (key ⊕ opad) ‖ inner hash, for the outer hash in one call. */
  outer: Buffer;
  /** The inner hash's place in `outer`. */
  innerHash: Buffer;
  keyHash: Buffer;
  prk: Buffer;
  block: Buffer;
  /** Views of `inner` by length, so that a call makes no new Buffer object. */
  innerViews: Buffer[];
}

let scratch: Scratch | undefined;

/** One locked buffer, carved into the working areas; created at first use, never released. */
function workspace(): Scratch {
  if (!scratch) {
    const all = secureAlloc(
      STATE_BYTES +
        BLOCK_BYTES +
        INLINE_MESSAGE_BYTES +
        BLOCK_BYTES +
        4 * SHA256_BYTES,
    );
    let offset = 0;
    const take = (length: number) => all.subarray(offset, (offset += length));
    scratch = {
      all,
      state: take(STATE_BYTES),
      inner: take(BLOCK_BYTES + INLINE_MESSAGE_BYTES),
      outer: take(BLOCK_BYTES + SHA256_BYTES),
      innerHash: Buffer.alloc(0),
      keyHash: take(SHA256_BYTES),
      prk: take(SHA256_BYTES),
      block: take(SHA256_BYTES),
      innerViews: [],
    };
    scratch.innerHash = scratch.outer.subarray(BLOCK_BYTES);
  }
  return scratch;
}

const COUNTER = Buffer.alloc(1);
const ZERO_SALT = Buffer.alloc(SHA256_BYTES);

/** HMAC-SHA256(key, parts[0] ‖ parts[1] ‖ …) written into `output` (32 bytes). */
export function hmacSha256Into(
  output: Buffer,
  key: Buffer,
  ...parts: Buffer[]
): void {
  if (output.byteLength !== SHA256_BYTES)
    throw new InvalidCryptoInputError('HMAC-SHA256 output is 32 bytes');
  const s = workspace();
  try {
    hmac(output, key, parts, s);
  } finally {
    sodium.sodium_memzero(s.all);
  }
}

/** HMAC-SHA256 into a new secure buffer (release it with `zeroBuffer`). */
export function hmacSha256(key: Buffer, ...parts: Buffer[]): Buffer {
  const output = secureAlloc(SHA256_BYTES);
  try {
    hmacSha256Into(output, key, ...parts);
    return output;
  } catch (error) {
    zeroBuffer(output);
    throw error;
  }
}

/**
 * HKDF-SHA256 (RFC 5869) of `ikm` into `output` (1 to 8,160 bytes). An empty `salt` means
 * HashLen zero bytes, as the RFC says.
 */
export function hkdfSha256Into(
  output: Buffer,
  ikm: Buffer,
  info: Buffer,
  salt: Buffer,
): void {
  const length = output.byteLength;
  if (length < 1 || length > MAX_HKDF_BYTES)
    throw new InvalidCryptoInputError(
      `HKDF-SHA256 output is 1 to ${MAX_HKDF_BYTES} bytes`,
    );
  const s = workspace();
  try {
    hmac(s.prk, salt.byteLength > 0 ? salt : ZERO_SALT, [ikm], s);
    let written = 0;
    for (let counter = 1; written < length; counter++) {
      COUNTER[0] = counter;
      hmac(
        s.block,
        s.prk,
        counter === 1 ? [info, COUNTER] : [s.block, info, COUNTER],
        s,
      );
      const take = Math.min(SHA256_BYTES, length - written);
      for (let i = 0; i < take; i++) output[written + i] = s.block[i];
      written += take;
    }
  } finally {
    sodium.sodium_memzero(s.all);
  }
}

/**
 * One HMAC over `parts` with the working areas of `s`. `output` may be `s.block` while `s.block`
 * is also a part: the parts are read into the inner hash before the output is written.
 */
function hmac(
  output: Buffer,
  key: Buffer,
  parts: readonly Buffer[],
  s: Scratch,
): void {
  let k = key;
  if (key.byteLength > BLOCK_BYTES) {
    sha256.crypto_hash_sha256(s.keyHash, key);
    k = s.keyHash;
  }
  const { inner, outer, innerHash } = s;
  for (let i = 0; i < BLOCK_BYTES; i++) {
    const byte = i < k.byteLength ? k[i] : 0;
    inner[i] = byte ^ 0x36;
    outer[i] = byte ^ 0x5c;
  }
  let messageBytes = 0;
  for (const part of parts) messageBytes += part.byteLength;
  if (messageBytes <= INLINE_MESSAGE_BYTES) {
    let offset = BLOCK_BYTES;
    for (const part of parts) {
      inner.set(part, offset);
      offset += part.byteLength;
    }
    sha256.crypto_hash_sha256(
      innerHash,
      (s.innerViews[offset] ??= inner.subarray(0, offset)),
    );
  } else {
    sha256.crypto_hash_sha256_init(s.state);
    sha256.crypto_hash_sha256_update(
      s.state,
      (s.innerViews[BLOCK_BYTES] ??= inner.subarray(0, BLOCK_BYTES)),
    );
    for (const part of parts)
      if (part.byteLength > 0) sha256.crypto_hash_sha256_update(s.state, part);
    sha256.crypto_hash_sha256_final(s.state, innerHash);
  }
  sha256.crypto_hash_sha256(output, outer);
}

/** SHA-256 of key material into `output` (32 bytes), with libsodium's one-shot call (no state left behind). */
export function sha256Into(output: Buffer, input: Buffer): void {
  sha256.crypto_hash_sha256(output, input);
}
