import {
  createHash,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import {
  ACCESS_KEY_PREFIX,
  AccessKeyMaterial,
  generateAccessKeySecret,
  looksLikeAccessKey,
  openAccessKeyPublicKey,
  sealAccessKeyPublicKey,
  sealDataKeyForAccessKey,
} from './access-key';
import { AuthenticationFailedError, InvalidCryptoInputError } from './errors';
import { isSecureBuffer } from './secure-memory';

const serverSecret = randomBytes(32);
const context = {
  userId: '5b0c4e36-51a3-4f4e-9d64-0b2d8d1f7a10',
  accessKeyId: '8f1c9a52-7d0e-4b6c-a2e1-3f9b5c7d1e20',
  keyVersion: 3,
};

function derive(token = generateAccessKeySecret(), secret = serverSecret) {
  const material = AccessKeyMaterial.derive(token, secret);
  if (!material) throw new Error('not an access key');
  return material;
}

describe('access key secrets', () => {
  it('are vpk_ and 256 random bits in base64url, never alike', () => {
    const a = generateAccessKeySecret();
    const b = generateAccessKeySecret();
    expect(a).toMatch(/^vpk_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(4), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(looksLikeAccessKey(a)).toBe(true);
    expect(looksLikeAccessKey('eyJhbGciOiJIUzI1NiJ9.e30.x')).toBe(false);
    expect(a.startsWith(ACCESS_KEY_PREFIX)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['no prefix', generateAccessKeySecret().slice(4)],
    ['another prefix', `vpx_${generateAccessKeySecret().slice(4)}`],
    ['short', generateAccessKeySecret().slice(0, -1)],
    ['long', `${generateAccessKeySecret()}A`],
    ['padding', `${generateAccessKeySecret()}=`],
    ['standard base64 characters', `vpk_${'+'.repeat(43)}`],
    // 43 base64url characters carry 258 bits: the last one's two spare bits must be zero.
    ['non-canonical last character', `vpk_${'A'.repeat(42)}B`],
  ])('a malformed token (%s) derives nothing', (_name, token) => {
    expect(AccessKeyMaterial.derive(token, serverSecret)).toBeUndefined();
  });

  it('refuses a server secret that is not 32 bytes', () => {
    expect(() =>
      AccessKeyMaterial.derive(generateAccessKeySecret(), randomBytes(16)),
    ).toThrow(InvalidCryptoInputError);
  });

  it('derive the same lookup and key pair every time, and other ones under another server secret', () => {
    const token = generateAccessKeySecret();
    const first = derive(token);
    const again = derive(token);
    const otherServer = derive(token, randomBytes(32));
    expect(again.lookup.equals(first.lookup)).toBe(true);
    expect(again.publicKey.equals(first.publicKey)).toBe(true);
    expect(again.idempotencySecret.equals(first.idempotencySecret)).toBe(true);
    expect(again.vaultShare.equals(first.vaultShare)).toBe(true);
    expect(otherServer.vaultShare.equals(first.vaultShare)).toBe(false);
    expect(otherServer.lookup.equals(first.lookup)).toBe(false);
    expect(otherServer.publicKey.equals(first.publicKey)).toBe(false);
    // Independent outputs: no label's output equals another's.
    expect(first.lookup.equals(first.publicKey)).toBe(false);
    const outputs = [
      first.lookup,
      first.publicKey,
      first.idempotencySecret,
      first.vaultShare,
    ];
    expect(new Set(outputs.map((b) => b.toString('hex'))).size).toBe(4);
    expect(isSecureBuffer(first.idempotencySecret)).toBe(true);
    expect(isSecureBuffer(first.vaultShare)).toBe(true);
    for (const m of [first, again, otherServer]) m.zero();
  });

  it('use the documented HKDF labels (changing one would orphan every stored key)', () => {
    const token = generateAccessKeySecret();
    const secret = Buffer.from(token.slice(4), 'base64url');
    const hkdf = (label: string) =>
      Buffer.from(hkdfSync('sha256', secret, serverSecret, label, 32));
    const material = derive(token);
    expect(material.lookup.equals(hkdf('vault-pii/v1/access-key/lookup'))).toBe(
      true,
    );
    expect(
      material.idempotencySecret.equals(
        hkdf('vault-pii/v1/access-key/idempotency'),
      ),
    ).toBe(true);
    expect(
      material.vaultShare.equals(hkdf('vault-pii/v1/access-key/vault-share')),
    ).toBe(true);
    // The X25519 public key of the seed, as node:crypto computes it from the raw private key
    // (libsodium's seed keypair hashes the seed with SHA-512 first; it must match that).
    const seed = hkdf('vault-pii/v1/access-key/x25519-seed');
    const scalar = createHash('sha512').update(seed).digest().subarray(0, 32);
    const privateKey = createPrivateKey({
      // PKCS#8 DER of an X25519 private key: a fixed prefix, then the 32 raw bytes.
      key: Buffer.concat([
        Buffer.from('302e020100300506032b656e04220420', 'hex'),
        scalar,
      ]),
      format: 'der',
      type: 'pkcs8',
    });
    const publicKey = createPublicKey(privateKey)
      .export({ format: 'der', type: 'spki' })
      .subarray(-32);
    expect(material.publicKey.equals(publicKey)).toBe(true);
    material.zero();
  });

  it('the lookup and the public key do not contain the secret', () => {
    const token = generateAccessKeySecret();
    const secret = Buffer.from(token.slice(4), 'base64url');
    const material = derive(token);
    for (const derived of [
      material.lookup,
      material.publicKey,
      material.vaultShare,
    ])
      expect(derived.includes(secret.subarray(0, 8))).toBe(false);
    material.zero();
  });
});

describe('data keys sealed to an access key', () => {
  const dataKey = randomBytes(32);

  it('open with the secret and the server secret, into locked memory', () => {
    const material = derive();
    const sealed = sealDataKeyForAccessKey(
      dataKey,
      material.publicKey,
      context,
    );
    const opened = material.openDataKey(sealed, context);
    expect(opened.equals(dataKey)).toBe(true);
    expect(isSecureBuffer(opened)).toBe(true);
    expect(sealed.includes(dataKey.subarray(0, 8))).toBe(false);
    material.zero();
  });

  it('are fresh each time (ephemeral key): two seals of one key differ', () => {
    const material = derive();
    const a = sealDataKeyForAccessKey(dataKey, material.publicKey, context);
    const b = sealDataKeyForAccessKey(dataKey, material.publicKey, context);
    expect(a.equals(b)).toBe(false);
    material.zero();
  });

  it('do not open with the same secret under another server secret (split knowledge)', () => {
    const token = generateAccessKeySecret();
    const material = derive(token);
    const sealed = sealDataKeyForAccessKey(
      dataKey,
      material.publicKey,
      context,
    );
    const withoutServerSecret = derive(token, randomBytes(32));
    expect(() => withoutServerSecret.openDataKey(sealed, context)).toThrow(
      AuthenticationFailedError,
    );
    material.zero();
    withoutServerSecret.zero();
  });

  it('do not open with another access key', () => {
    const material = derive();
    const sealed = sealDataKeyForAccessKey(
      dataKey,
      material.publicKey,
      context,
    );
    const other = derive();
    expect(() => other.openDataKey(sealed, context)).toThrow(
      AuthenticationFailedError,
    );
    material.zero();
    other.zero();
  });

  it.each([
    [
      'another user',
      { ...context, userId: 'e0b4c2d1-0000-4000-8000-000000000001' },
    ],
    [
      'another access key',
      { ...context, accessKeyId: 'e0b4c2d1-0000-4000-8000-000000000002' },
    ],
    ['another key version', { ...context, keyVersion: 4 }],
  ])('refuse to open for %s (a swapped row)', (_name, other) => {
    const material = derive();
    const sealed = sealDataKeyForAccessKey(
      dataKey,
      material.publicKey,
      context,
    );
    expect(() => material.openDataKey(sealed, other)).toThrow(
      AuthenticationFailedError,
    );
    material.zero();
  });

  it('refuse a tampered, truncated or extended wrap', () => {
    const material = derive();
    const sealed = sealDataKeyForAccessKey(
      dataKey,
      material.publicKey,
      context,
    );
    for (let i = 0; i < sealed.length; i += 7) {
      const tampered = Buffer.from(sealed);
      tampered[i] ^= 0x01;
      expect(() => material.openDataKey(tampered, context)).toThrow(
        AuthenticationFailedError,
      );
    }
    expect(() =>
      material.openDataKey(sealed.subarray(0, sealed.length - 1), context),
    ).toThrow(AuthenticationFailedError);
    expect(() =>
      material.openDataKey(Buffer.concat([sealed, Buffer.alloc(1)]), context),
    ).toThrow(AuthenticationFailedError);
    material.zero();
  });

  it('refuse bad inputs to sealing', () => {
    const material = derive();
    expect(() =>
      sealDataKeyForAccessKey(randomBytes(16), material.publicKey, context),
    ).toThrow(InvalidCryptoInputError);
    expect(() =>
      sealDataKeyForAccessKey(dataKey, randomBytes(31), context),
    ).toThrow(InvalidCryptoInputError);
    expect(() =>
      sealDataKeyForAccessKey(dataKey, material.publicKey, {
        ...context,
        keyVersion: -1,
      }),
    ).toThrow(InvalidCryptoInputError);
    material.zero();
  });

  it('fail to open once the material is zeroed', () => {
    const material = derive();
    const sealed = sealDataKeyForAccessKey(
      dataKey,
      material.publicKey,
      context,
    );
    material.zero();
    expect(() => material.openDataKey(sealed, context)).toThrow(
      AuthenticationFailedError,
    );
    expect(material.vaultShare.equals(Buffer.alloc(32))).toBe(true);
  });

  it('derive no key pair once zeroed (a zeroed seed would give one anyone can compute)', () => {
    const token = generateAccessKeySecret();
    const sealer = derive(token);
    const sealed = sealDataKeyForAccessKey(dataKey, sealer.publicKey, context);
    sealer.zero();
    const material = derive(token);
    material.zero();
    expect(() => material.publicKey).toThrow(AuthenticationFailedError);
    expect(() => material.openDataKey(sealed, context)).toThrow(
      AuthenticationFailedError,
    );
  });
});

describe('sealed access key public keys', () => {
  const owner = { userId: context.userId, accessKeyId: context.accessKeyId };

  it('open under the same server secret and owner only', () => {
    const material = derive();
    const sealed = sealAccessKeyPublicKey(
      material.publicKey,
      serverSecret,
      owner,
    );
    expect(sealed.includes(material.publicKey)).toBe(false);
    expect(
      openAccessKeyPublicKey(sealed, serverSecret, owner).equals(
        material.publicKey,
      ),
    ).toBe(true);
    expect(() =>
      openAccessKeyPublicKey(sealed, randomBytes(32), owner),
    ).toThrow(AuthenticationFailedError);
    expect(() =>
      openAccessKeyPublicKey(sealed, serverSecret, {
        ...owner,
        accessKeyId: 'e0b4c2d1-0000-4000-8000-000000000002',
      }),
    ).toThrow(AuthenticationFailedError);
    material.zero();
  });

  it('a database writer cannot substitute a public key of their own', () => {
    const attacker = derive();
    // Without the server secret, the best they can do is seal under a guess of it.
    const forged = sealAccessKeyPublicKey(
      attacker.publicKey,
      randomBytes(32),
      owner,
    );
    expect(() => openAccessKeyPublicKey(forged, serverSecret, owner)).toThrow(
      AuthenticationFailedError,
    );
    attacker.zero();
  });
});
