import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import sodium from 'sodium-native';
import {
  AuthenticationFailedError,
  InvalidCryptoInputError,
  TruncatedEnvelopeError,
  UnknownKeyVersionError,
  UnsupportedEnvelopeError,
} from './errors';
import { secureAlloc, secureTakeOver, zeroBuffer } from './secure-memory';

/**
 * Binary envelope (docs/design.md#the-envelope), one per encrypted value:
 *
 *   offset 0  format version   1 byte   (1)
 *   offset 1  algorithm id     1 byte   (1 = XChaCha20-Poly1305, 2 = AES-256-GCM)
 *   offset 2  key version      4 bytes  unsigned big-endian: which DEK version sealed it
 *   offset 6  nonce            24 or 12 bytes, random
 *   then      ciphertext ‖ 16-byte tag
 *
 * The 6 header bytes are authenticated with the caller's AAD, so changing the key version or the
 * algorithm id fails like any other tampering.
 */
export const ENVELOPE_FORMAT_VERSION = 1;
export const HEADER_BYTES = 6;
export const TAG_BYTES = 16;
export const AEAD_KEY_BYTES = 32;

export enum AeadAlgorithm {
  /** libsodium, 192-bit random nonces: the default. */
  XChaCha20Poly1305 = 1,
  /** node:crypto, for deployments that require FIPS-approved algorithms. */
  Aes256Gcm = 2,
}

const NONCE_BYTES: Record<AeadAlgorithm, number> = {
  [AeadAlgorithm.XChaCha20Poly1305]:
    sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
  [AeadAlgorithm.Aes256Gcm]: 12,
};

export interface EnvelopeHeader {
  formatVersion: number;
  algorithm: AeadAlgorithm;
  keyVersion: number;
}

export interface SealOptions {
  algorithm: AeadAlgorithm;
  keyVersion: number;
  /** Associated data: what this ciphertext belongs to (table, column, owner…). */
  aad: Buffer | PreparedAad;
}

/**
 * Associated data for many envelopes (e.g. one column of one owner's rows). What the AEAD
 * authenticates is header ‖ aad; this keeps that concatenation per header — one or two per
 * column: the algorithm and key version in use — instead of building it for every value.
 */
export class PreparedAad {
  private readonly aad: Buffer;
  private readonly withHeader = new Map<number, Buffer>();

  constructor(aad: Buffer) {
    this.aad = Buffer.from(aad);
  }

  /** header ‖ aad for the 6-byte header `header` (format version already checked). */
  forHeader(header: Buffer): Buffer {
    const id = header[1] * 0x100000000 + header.readUInt32BE(2);
    let full = this.withHeader.get(id);
    if (!full) {
      full = Buffer.concat([header.subarray(0, HEADER_BYTES), this.aad]);
      this.withHeader.set(id, full);
    }
    return full;
  }
}

/** Encrypts `plaintext` under `key` into a self-describing envelope. */
export function seal(
  plaintext: Buffer,
  key: Buffer,
  options: SealOptions,
): Buffer {
  assertKey(key);
  const { algorithm, keyVersion } = options;
  const nonceBytes = NONCE_BYTES[algorithm];
  if (nonceBytes === undefined)
    throw new InvalidCryptoInputError(`unknown AEAD algorithm ${algorithm}`);
  if (
    !Number.isInteger(keyVersion) ||
    keyVersion < 0 ||
    keyVersion > 0xffffffff
  ) {
    throw new InvalidCryptoInputError(
      'key version must be a 32-bit unsigned integer',
    );
  }

  const bodyStart = HEADER_BYTES + nonceBytes;
  const envelope = Buffer.allocUnsafe(bodyStart + plaintext.length + TAG_BYTES);
  envelope[0] = ENVELOPE_FORMAT_VERSION;
  envelope[1] = algorithm;
  envelope.writeUInt32BE(keyVersion, 2);
  fillNonce(envelope, HEADER_BYTES, nonceBytes);
  const nonce = envelope.subarray(HEADER_BYTES, bodyStart);
  const aad = authenticatedData(envelope, options.aad);
  const body = envelope.subarray(bodyStart);

  if (algorithm === AeadAlgorithm.XChaCha20Poly1305) {
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
      body,
      plaintext,
      aad,
      null,
      nonce,
      key,
    );
  } else {
    const cipher = createCipheriv('aes-256-gcm', key, nonce, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(aad);
    const written = cipher.update(plaintext);
    written.copy(body, 0);
    const final = cipher.final();
    final.copy(body, written.length);
    cipher.getAuthTag().copy(body, plaintext.length);
  }
  return envelope;
}

/**
 * Decrypts an envelope. `keyForVersion` returns the key of the version the envelope names
 * (or `undefined`, which fails with `UnknownKeyVersionError`).
 */
export function open(
  envelope: Buffer,
  keyForVersion: (keyVersion: number) => Buffer | undefined,
  aad: Buffer | PreparedAad,
): Buffer {
  const algorithm = checkHeader(envelope);
  const bodyStart = HEADER_BYTES + NONCE_BYTES[algorithm];
  const key = envelopeKey(envelope, bodyStart, keyForVersion);

  const nonce = envelope.subarray(HEADER_BYTES, bodyStart);
  const body = envelope.subarray(bodyStart);
  const fullAad = authenticatedData(envelope, aad);

  if (algorithm === AeadAlgorithm.XChaCha20Poly1305) {
    const plaintext = Buffer.allocUnsafe(body.length - TAG_BYTES);
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        plaintext,
        null,
        body,
        fullAad,
        nonce,
        key,
      );
    } catch {
      plaintext.fill(0);
      throw new AuthenticationFailedError();
    }
    return plaintext;
  }
  // GCM's update() releases plaintext before final() checks the tag: zeroed if the check fails.
  let written: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(fullAad);
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    written = decipher.update(body.subarray(0, body.length - TAG_BYTES));
    const final = decipher.final();
    if (final.length === 0) return written; // GCM's final() has nothing left to release
    const plaintext = Buffer.concat([written, final]);
    written.fill(0);
    return plaintext;
  } catch {
    written?.fill(0);
    throw new AuthenticationFailedError();
  }
}

/**
 * Like `open()`, for an envelope that holds a key (a wrapped DEK, a vault entry): the plaintext
 * goes straight into locked memory (release it with `zeroBuffer`), never through an ordinary
 * Buffer for XChaCha20-Poly1305 (GCM's output is moved there and wiped at once).
 */
export function openSecret(
  envelope: Buffer,
  keyForVersion: (keyVersion: number) => Buffer | undefined,
  aad: Buffer | PreparedAad,
): Buffer {
  const algorithm = checkHeader(envelope);
  if (algorithm !== AeadAlgorithm.XChaCha20Poly1305)
    return secureTakeOver(open(envelope, keyForVersion, aad));
  const bodyStart = HEADER_BYTES + XCHACHA_NONCE_BYTES;
  const key = envelopeKey(envelope, bodyStart, keyForVersion);
  const plaintext = secureAlloc(envelope.length - bodyStart - TAG_BYTES);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      plaintext,
      null,
      envelope.subarray(bodyStart),
      authenticatedData(envelope, aad),
      envelope.subarray(HEADER_BYTES, bodyStart),
      key,
    );
  } catch {
    zeroBuffer(plaintext);
    throw new AuthenticationFailedError();
  }
  return plaintext;
}

/**
 * Like `open()`, but lends the plaintext to `use` and wipes it as soon as `use` returns: for
 * XChaCha20-Poly1305 values up to 4 KiB it is decrypted into a scratch buffer, so a hot path
 * that decodes many small values (a column of 1,000 rows) allocates and zeroes nothing per value.
 * `use` must not keep the buffer it is given.
 */
export function openAndUse<T>(
  envelope: Buffer,
  keyForVersion: (keyVersion: number) => Buffer | undefined,
  aad: Buffer | PreparedAad,
  use: (plaintext: Buffer) => T,
): T {
  const plaintextBytes =
    envelope.length - HEADER_BYTES - XCHACHA_NONCE_BYTES - TAG_BYTES;
  if (
    scratchInUse ||
    (envelope[1] as AeadAlgorithm) !== AeadAlgorithm.XChaCha20Poly1305 ||
    plaintextBytes < 0 ||
    plaintextBytes > SCRATCH_BYTES
  ) {
    const plaintext = open(envelope, keyForVersion, aad);
    try {
      return use(plaintext);
    } finally {
      plaintext.fill(0);
    }
  }
  checkHeader(envelope);
  const keyVersion = envelope.readUInt32BE(2);
  const key = keyForVersion(keyVersion);
  if (!key) throw new UnknownKeyVersionError(keyVersion);
  assertKey(key);
  for (let i = 0; i < XCHACHA_NONCE_BYTES; i++)
    scratchNonce[i] = envelope[HEADER_BYTES + i];
  const plaintext = scratchView(plaintextBytes);
  scratchInUse = true;
  try {
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        plaintext,
        null,
        envelope.subarray(HEADER_BYTES + XCHACHA_NONCE_BYTES),
        authenticatedData(envelope, aad),
        scratchNonce,
        key,
      );
    } catch {
      throw new AuthenticationFailedError();
    }
    return use(plaintext);
  } finally {
    plaintext.fill(0);
    scratchInUse = false;
  }
}

const XCHACHA_NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
const SCRATCH_BYTES = 4096;
const scratch = Buffer.alloc(SCRATCH_BYTES);
const scratchNonce = Buffer.alloc(XCHACHA_NONCE_BYTES);
/** Views of `scratch` by length, so that a value's plaintext needs no new Buffer object either. */
const scratchViews: Buffer[] = [];
let scratchInUse = false; // a `use` that opens another value gets its own buffer

function scratchView(length: number): Buffer {
  return (scratchViews[length] ??= scratch.subarray(0, length));
}

/** Reads and checks the header without decrypting (e.g. to find which key version to fetch). */
export function readEnvelopeHeader(envelope: Buffer): EnvelopeHeader {
  const algorithm = checkHeader(envelope);
  return {
    formatVersion: ENVELOPE_FORMAT_VERSION,
    algorithm,
    keyVersion: envelope.readUInt32BE(2),
  };
}

/**
 * The key of the version the envelope names, once the envelope is known to hold its nonce and
 * tag (`bodyStart` = header + nonce bytes).
 */
function envelopeKey(
  envelope: Buffer,
  bodyStart: number,
  keyForVersion: (keyVersion: number) => Buffer | undefined,
): Buffer {
  if (envelope.length < bodyStart + TAG_BYTES) {
    throw new TruncatedEnvelopeError(
      `envelope of ${envelope.length} bytes is shorter than its nonce and tag`,
    );
  }
  const keyVersion = envelope.readUInt32BE(2);
  const key = keyForVersion(keyVersion);
  if (!key) throw new UnknownKeyVersionError(keyVersion);
  assertKey(key);
  return key;
}

/** Checks the format version and algorithm id; returns the algorithm. */
function checkHeader(envelope: Buffer): AeadAlgorithm {
  if (envelope.length < HEADER_BYTES) {
    throw new TruncatedEnvelopeError(
      `envelope of ${envelope.length} bytes is shorter than its header`,
    );
  }
  const formatVersion = envelope[0];
  if (formatVersion !== ENVELOPE_FORMAT_VERSION) {
    throw new UnsupportedEnvelopeError(
      `unknown envelope format version ${formatVersion}`,
    );
  }
  const algorithm = envelope[1] as AeadAlgorithm;
  if (NONCE_BYTES[algorithm] === undefined) {
    throw new UnsupportedEnvelopeError(
      `unknown AEAD algorithm id ${algorithm}`,
    );
  }
  return algorithm;
}

/**
 * Random nonces come from a 4 KiB buffer of CSPRNG output refilled when used up (the way
 * `crypto.randomUUID()` caches entropy): one RNG call per ~170 nonces instead of one each, which
 * on this VM cost 4 µs — more than the encryption itself. Every byte is used once; nonces are
 * public, so nothing needs zeroing.
 */
const NONCE_POOL_BYTES = 4096;
const noncePool = Buffer.allocUnsafe(NONCE_POOL_BYTES);
let noncePoolOffset = NONCE_POOL_BYTES;

/** Writes `length` fresh random bytes at `target[offset]`. */
function fillNonce(target: Buffer, offset: number, length: number): void {
  if (noncePoolOffset + length > NONCE_POOL_BYTES) {
    randomFillSync(noncePool);
    noncePoolOffset = 0;
  }
  // A byte loop: Buffer#copy would build a view of the pool for every 12 or 24 bytes.
  for (let i = 0; i < length; i++)
    target[offset + i] = noncePool[noncePoolOffset + i];
  noncePoolOffset += length;
}

/** What the AEAD authenticates: the envelope's 6 header bytes ‖ the caller's AAD. */
function authenticatedData(
  envelope: Buffer,
  aad: Buffer | PreparedAad,
): Buffer {
  if (aad instanceof PreparedAad) return aad.forHeader(envelope);
  const header = envelope.subarray(0, HEADER_BYTES);
  return aad.length === 0
    ? header
    : Buffer.concat([header, aad], HEADER_BYTES + aad.length);
}

function assertKey(key: Buffer): void {
  if (key.length !== AEAD_KEY_BYTES)
    throw new InvalidCryptoInputError(`AEAD keys are ${AEAD_KEY_BYTES} bytes`);
}
