import { randomBytes } from 'node:crypto';
import {
  AeadAlgorithm,
  AuthenticationFailedError,
} from '@vault-pii/nest-encryption/crypto';
import {
  canonicalJson,
  deriveOutcomeKeys,
  idempotencyRecordId,
  openOutcome,
  requestFingerprint,
  sealOutcome,
} from './idempotency-secrets';

const SERVER_KEY = randomBytes(32);

describe('idempotency secrets', () => {
  it('names a record by route, scope and key, each part framed', () => {
    const id = idempotencyRecordId(SERVER_KEY, 'POST /v1/contacts', 's1', 'k');
    expect(id).toHaveLength(32);
    expect(
      idempotencyRecordId(SERVER_KEY, 'POST /v1/contacts', 's1', 'k'),
    ).toEqual(id);
    for (const other of [
      idempotencyRecordId(SERVER_KEY, 'POST /v1/documents', 's1', 'k'),
      idempotencyRecordId(SERVER_KEY, 'POST /v1/contacts', 's2', 'k'),
      idempotencyRecordId(SERVER_KEY, 'POST /v1/contacts', 's1', 'k2'),
      // Framing: moving a character from scope to key is another record.
      idempotencyRecordId(SERVER_KEY, 'POST /v1/contacts', 's', '1k'),
      idempotencyRecordId(randomBytes(32), 'POST /v1/contacts', 's1', 'k'),
    ])
      expect(other.equals(id)).toBe(false);
  });

  it('canonical JSON sorts keys at every depth and keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,1]},"b":1}',
    );
    expect(canonicalJson({ a: 'x' })).not.toBe(canonicalJson({ a: 'y' }));
  });

  it('fingerprints depend on the caller secret, the body (not its key order), method and path', () => {
    const recordId = randomBytes(32);
    const mine = deriveOutcomeKeys(randomBytes(16), SERVER_KEY, recordId);
    const theirs = deriveOutcomeKeys(randomBytes(16), SERVER_KEY, recordId);
    try {
      const fp = (keys: typeof mine, body: unknown, path = '/v1/contacts') =>
        requestFingerprint(keys.fingerprintKey, 'POST', path, body);
      const body = { fullName: 'Ada', email: 'ada@example.org' };
      expect(fp(mine, body)).toEqual(
        fp(mine, { email: 'ada@example.org', fullName: 'Ada' }),
      );
      expect(fp(mine, body).equals(fp(theirs, body))).toBe(false);
      expect(fp(mine, body).equals(fp(mine, { ...body, fullName: 'Ad' }))).toBe(
        false,
      );
      expect(fp(mine, body).equals(fp(mine, body, '/v1/documents'))).toBe(
        false,
      );
    } finally {
      mine.zero();
      theirs.zero();
    }
  });

  it.each([AeadAlgorithm.XChaCha20Poly1305, AeadAlgorithm.Aes256Gcm])(
    'seals an outcome that opens only with its key, record and status (algorithm %s)',
    (algorithm) => {
      const recordId = randomBytes(32);
      const keys = deriveOutcomeKeys(randomBytes(16), SERVER_KEY, recordId);
      const other = deriveOutcomeKeys(randomBytes(16), SERVER_KEY, recordId);
      try {
        const outcome = {
          headers: { 'cache-control': 'no-store' },
          body: { id: 'c1', fullName: 'Ada Lovelace' },
        };
        const envelope = sealOutcome(
          keys.sealKey,
          recordId,
          201,
          outcome,
          algorithm,
        );
        expect(envelope.includes(Buffer.from('Ada Lovelace'))).toBe(false);
        expect(openOutcome(keys.sealKey, recordId, 201, envelope)).toEqual(
          outcome,
        );
        expect(() =>
          openOutcome(other.sealKey, recordId, 201, envelope),
        ).toThrow(AuthenticationFailedError);
        expect(() =>
          openOutcome(keys.sealKey, randomBytes(32), 201, envelope),
        ).toThrow(AuthenticationFailedError);
        expect(() =>
          openOutcome(keys.sealKey, recordId, 200, envelope),
        ).toThrow(AuthenticationFailedError);
      } finally {
        keys.zero();
        other.zero();
      }
    },
  );

  it('zero() wipes both derived keys', () => {
    const keys = deriveOutcomeKeys(
      randomBytes(16),
      SERVER_KEY,
      randomBytes(32),
    );
    const { sealKey, fingerprintKey } = keys;
    expect(sealKey.equals(Buffer.alloc(32))).toBe(false);
    keys.zero();
    expect(sealKey.equals(Buffer.alloc(32))).toBe(true);
    expect(fingerprintKey.equals(Buffer.alloc(32))).toBe(true);
  });
});
