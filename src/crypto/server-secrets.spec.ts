import { hkdfSync } from 'node:crypto';
import {
  InvalidCryptoInputError,
  isSecureBuffer,
} from '@vault-pii/nest-encryption/crypto';
import { deriveServerSecrets } from './server-secrets';

const MASTER = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const label = (master: Buffer, info: string): Buffer =>
  Buffer.from(
    hkdfSync('sha256', master, Buffer.alloc(0), `vault-pii/v1/${info}`, 32),
  );

describe('deriveServerSecrets', () => {
  it('derives eight distinct 32-byte secrets', () => {
    const secrets = deriveServerSecrets(MASTER);
    const all = [
      secrets.jwtSigningKey.export(),
      secrets.pepper,
      secrets.argon2OutputKey,
      secrets.blindIndexKey,
      secrets.vaultKey,
      secrets.rateLimitKey,
      secrets.idempotencyKey,
      secrets.accessKeySecret,
    ];
    for (const secret of all) expect(secret.length).toBe(32);
    const distinct = new Set(all.map((b) => b.toString('hex')));
    expect(distinct.size).toBe(8);
    expect(distinct.has(MASTER.toString('hex'))).toBe(false);
  });

  it('uses the documented HKDF labels (changing one would orphan existing data)', () => {
    const secrets = deriveServerSecrets(MASTER);
    expect(
      secrets.jwtSigningKey.export().equals(label(MASTER, 'server/jwt-hs256')),
    ).toBe(true);
    expect(secrets.pepper.equals(label(MASTER, 'server/argon2-pepper'))).toBe(
      true,
    );
    expect(
      secrets.argon2OutputKey.equals(label(MASTER, 'server/argon2-output')),
    ).toBe(true);
    expect(
      secrets.blindIndexKey.equals(label(MASTER, 'server/blind-index')),
    ).toBe(true);
    expect(secrets.vaultKey.equals(label(MASTER, 'server/vault'))).toBe(true);
    expect(
      secrets.rateLimitKey.equals(label(MASTER, 'server/rate-limit')),
    ).toBe(true);
    expect(
      secrets.idempotencyKey.equals(label(MASTER, 'server/idempotency')),
    ).toBe(true);
    expect(
      secrets.accessKeySecret.equals(label(MASTER, 'server/access-keys')),
    ).toBe(true);
  });

  it('is deterministic per master key and changes completely with the master key', () => {
    const a = deriveServerSecrets(MASTER);
    const b = deriveServerSecrets(Buffer.from(MASTER));
    const other = Buffer.from(MASTER);
    other[31] ^= 1;
    const c = deriveServerSecrets(other);
    expect(a.jwtSigningKey.equals(b.jwtSigningKey)).toBe(true);
    expect(a.pepper.equals(b.pepper)).toBe(true);
    expect(a.argon2OutputKey.equals(b.argon2OutputKey)).toBe(true);
    expect(a.blindIndexKey.equals(b.blindIndexKey)).toBe(true);
    expect(a.vaultKey.equals(b.vaultKey)).toBe(true);
    expect(a.jwtSigningKey.equals(c.jwtSigningKey)).toBe(false);
    expect(a.pepper.equals(c.pepper)).toBe(false);
    expect(a.argon2OutputKey.equals(c.argon2OutputKey)).toBe(false);
    expect(a.blindIndexKey.equals(c.blindIndexKey)).toBe(false);
    expect(a.vaultKey.equals(c.vaultKey)).toBe(false);
    expect(a.rateLimitKey.equals(c.rateLimitKey)).toBe(false);
  });

  it('gives the argon2-output key its own label: not the pepper, nor any other secret, under any existing label', () => {
    const { argon2OutputKey } = deriveServerSecrets(MASTER);
    const labels = [
      'server/jwt-hs256',
      'server/argon2-pepper',
      'server/blind-index',
      'server/vault',
      'server/rate-limit',
    ];
    for (const other of labels)
      expect(argon2OutputKey.equals(label(MASTER, other))).toBe(false);
  });

  it('keeps the Buffer secrets in locked memory', () => {
    const secrets = deriveServerSecrets(MASTER);
    for (const secret of [
      secrets.pepper,
      secrets.argon2OutputKey,
      secrets.blindIndexKey,
      secrets.vaultKey,
      secrets.rateLimitKey,
    ]) {
      expect(isSecureBuffer(secret)).toBe(true);
    }
  });

  it('returns the JWT key as a secret KeyObject whose material survives zeroing of the intermediate', () => {
    const { jwtSigningKey } = deriveServerSecrets(MASTER);
    expect(jwtSigningKey.type).toBe('secret');
    expect(jwtSigningKey.symmetricKeySize).toBe(32);
    const exported = jwtSigningKey.export();
    expect(exported.length).toBe(32);
    expect(exported.equals(Buffer.alloc(32))).toBe(false);
  });

  it('leaves the master key intact', () => {
    const copy = Buffer.from(MASTER);
    deriveServerSecrets(MASTER);
    expect(MASTER.equals(copy)).toBe(true);
  });

  it.each([0, 16, 31, 33, 64])(
    'rejects a %d-byte master key with InvalidCryptoInputError',
    (length) => {
      expect(() => deriveServerSecrets(Buffer.alloc(length, 7))).toThrow(
        InvalidCryptoInputError,
      );
    },
  );
});
