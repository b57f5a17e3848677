import {
  AeadAlgorithm,
  SHA256_BYTES,
  hkdfSha256Into,
  hmacSha256,
  open,
  seal,
  secureAlloc,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';

/**
 * The keyed values behind an idempotency record (docs/http-api.md#idempotency). Pure functions
 * over Buffers; the primitives are the library's (HMAC-SHA256, HKDF-SHA256, the AEAD envelope).
 *
 * - record id = HMAC(server idempotency key, route ‖ scope ‖ key): the raw key is never stored.
 * - sealing key and fingerprint key = HKDF(ikm = a secret only the caller holds (its session's
 *   client share, or the refresh token it presents), salt = the server idempotency key,
 *   info = purpose ‖ record id). Without that secret, a dump of the table plus every server
 *   secret neither opens an outcome nor lets anyone test a guess of a body (a password) against
 *   its fingerprint.
 */

const RECORD_ID_LABEL = 'vault-pii/v1/idempotency-record';
const OUTCOME_INFO = 'vault-pii/v1/idempotency-outcome';
const FINGERPRINT_INFO = 'vault-pii/v1/idempotency-fingerprint';
/** Envelope key version: one key per record, so there is nothing to rotate. */
const OUTCOME_KEY_VERSION = 0;

/** Each part preceded by its length, so that no two different part lists read the same. */
function framed(...parts: (string | Buffer)[]): Buffer[] {
  return parts.flatMap((part) => {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.byteLength);
    return [length, bytes];
  });
}

/** A 32-byte HMAC as an ordinary Buffer (it is stored), its secure copy released. */
function storedHmac(key: Buffer, parts: Buffer[]): Buffer {
  const mac = hmacSha256(key, ...parts);
  try {
    return Buffer.from(mac);
  } finally {
    zeroBuffer(mac);
  }
}

/** The record's primary key: `route` is `METHOD /path-template`, `scope` names the caller. */
export function idempotencyRecordId(
  serverKey: Buffer,
  route: string,
  scope: string,
  key: string,
): Buffer {
  return storedHmac(serverKey, framed(RECORD_ID_LABEL, route, scope, key));
}

/** The caller-keyed pair for one record; `zero()` releases both (locked memory). */
export interface OutcomeKeys {
  sealKey: Buffer;
  fingerprintKey: Buffer;
  zero(): void;
}

export function deriveOutcomeKeys(
  callerSecret: Buffer,
  serverKey: Buffer,
  recordId: Buffer,
): OutcomeKeys {
  const sealKey = secureAlloc(SHA256_BYTES);
  const fingerprintKey = secureAlloc(SHA256_BYTES);
  try {
    hkdfSha256Into(
      sealKey,
      callerSecret,
      Buffer.concat([Buffer.from(OUTCOME_INFO), recordId]),
      serverKey,
    );
    hkdfSha256Into(
      fingerprintKey,
      callerSecret,
      Buffer.concat([Buffer.from(FINGERPRINT_INFO), recordId]),
      serverKey,
    );
  } catch (error) {
    zeroBuffer(sealKey, fingerprintKey);
    throw error;
  }
  return {
    sealKey,
    fingerprintKey,
    zero: () => zeroBuffer(sealKey, fingerprintKey),
  };
}

/**
 * JSON with every object's keys sorted, so that `{"a":1,"b":2}` and `{"b":2,"a":1}` are one
 * request: a client that rebuilds its body for a retry may order it differently.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map(
        (name) =>
          `${JSON.stringify(name)}:${canonicalJson((value as Record<string, unknown>)[name])}`,
      );
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** HMAC of method, path and the body's canonical JSON under the caller-keyed fingerprint key. */
export function requestFingerprint(
  fingerprintKey: Buffer,
  method: string,
  path: string,
  body: unknown,
): Buffer {
  const canonicalBody = Buffer.from(canonicalJson(body ?? null), 'utf8');
  try {
    return storedHmac(fingerprintKey, framed(method, path, canonicalBody));
  } finally {
    zeroBuffer(canonicalBody);
  }
}

/** What a replay sends again: the success headers worth keeping, and the JSON body (if any). */
export interface StoredOutcome {
  headers: Record<string, string>;
  body: unknown;
}

function outcomeAad(recordId: Buffer, status: number): Buffer {
  const statusBytes = Buffer.alloc(2);
  statusBytes.writeUInt16BE(status);
  return Buffer.concat([Buffer.from(OUTCOME_INFO), recordId, statusBytes]);
}

/** The outcome as an AEAD envelope bound to its record and status; the plaintext is wiped. */
export function sealOutcome(
  sealKey: Buffer,
  recordId: Buffer,
  status: number,
  outcome: StoredOutcome,
  algorithm: AeadAlgorithm,
): Buffer {
  const plaintext = Buffer.from(JSON.stringify(outcome), 'utf8');
  try {
    return seal(plaintext, sealKey, {
      algorithm,
      keyVersion: OUTCOME_KEY_VERSION,
      aad: outcomeAad(recordId, status),
    });
  } finally {
    zeroBuffer(plaintext);
  }
}

/** @throws AuthenticationFailedError when the envelope, its record or its status was altered. */
export function openOutcome(
  sealKey: Buffer,
  recordId: Buffer,
  status: number,
  envelope: Buffer,
): StoredOutcome {
  const plaintext = open(
    envelope,
    (version) => (version === OUTCOME_KEY_VERSION ? sealKey : undefined),
    outcomeAad(recordId, status),
  );
  try {
    return JSON.parse(plaintext.toString('utf8')) as StoredOutcome;
  } finally {
    zeroBuffer(plaintext);
  }
}
