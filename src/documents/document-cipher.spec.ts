import { randomBytes } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppConfig } from '../config/app-config';
import {
  generateDataKey,
  AuthenticationFailedError,
  UnknownKeyVersionError,
  readStreamHeader,
  StreamAlgorithm,
} from '@vault-pii/nest-encryption/crypto';
import { Keyring } from '@vault-pii/nest-encryption';
import { DocumentCipher } from './document-cipher';

const OWNER = '3f0c7c2e-5d2a-4d8e-9a41-0c6a1b2f7e11';
const DOCUMENT = 'b8e1f6a4-2c3d-4e5f-8a9b-1c2d3e4f5a6b';
/** Several 64 KiB chunks and a short last one. */
const PDF = randomBytes(3 * 64 * 1024 + 123);

async function through(input: Buffer, ...stages: Transform[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline([
    Readable.from([input]),
    ...stages,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        out.push(chunk);
        done();
      },
    }),
  ]);
  return Buffer.concat(out);
}

const cipherFor = (encryptionAlgorithm: AppConfig['encryptionAlgorithm']) =>
  new DocumentCipher({ encryptionAlgorithm } as AppConfig);

describe('DocumentCipher', () => {
  const keyrings: Keyring[] = [];
  /** Zeroed after each test. */
  const kept = (keyring: Keyring) => {
    keyrings.push(keyring);
    return keyring;
  };
  /** Fresh random data keys (locked memory). */
  const keyringOf = (versions: number[], active: number) =>
    kept(
      new Keyring(
        OWNER,
        new Map(versions.map((version) => [version, generateDataKey()])),
        active,
      ),
    );
  afterEach(() => keyrings.splice(0).forEach((keyring) => keyring.zero()));

  it.each([
    ['xchacha20-poly1305', StreamAlgorithm.SecretStreamXChaCha20Poly1305],
    ['aes-256-gcm', StreamAlgorithm.SegmentedAes256Gcm],
  ] as const)(
    'round-trips a file under %s, sealed under the keyring’s active version',
    async (configured, algorithm) => {
      const cipher = cipherFor(configured);
      const keyring = keyringOf([1, 2, 3], 2);
      const file = await through(PDF, cipher.encrypt(keyring, OWNER, DOCUMENT));
      expect(readStreamHeader(file)).toMatchObject({
        algorithm,
        keyVersion: 2,
      });
      expect(file.includes(PDF.subarray(0, 64))).toBe(false);
      expect(
        await through(file, cipher.decrypt(keyring, OWNER, DOCUMENT)),
      ).toEqual(PDF);
    },
  );

  it('binds the file to its owner and its document: either one changed fails authentication', async () => {
    const cipher = cipherFor('xchacha20-poly1305');
    const keyring = keyringOf([1], 1);
    const file = await through(PDF, cipher.encrypt(keyring, OWNER, DOCUMENT));
    const otherId = 'c9f2a7b5-3d4e-4f60-9bac-2d3e4f5a6b7c';
    await expect(
      through(file, cipher.decrypt(keyring, otherId, DOCUMENT)),
    ).rejects.toThrow(AuthenticationFailedError);
    await expect(
      through(file, cipher.decrypt(keyring, OWNER, otherId)),
    ).rejects.toThrow(AuthenticationFailedError);
  });

  /** A file sealed under version 1 of a keyring holding 1 and 2, as a key rotation finds it. */
  async function beforeRotation(configured: AppConfig['encryptionAlgorithm']) {
    const cipher = cipherFor(configured);
    const old = keyringOf([1, 2], 1);
    const file = await through(PDF, cipher.encrypt(old, OWNER, DOCUMENT));
    return {
      cipher,
      file,
      rotating: kept(old.copy({ activeVersion: 2 })),
      onlyNew: kept(old.copy({ versions: [2], activeVersion: 2 })),
    };
  }

  it('decrypts with the version the header names, and fails without it', async () => {
    const { cipher, file, rotating, onlyNew } =
      await beforeRotation('aes-256-gcm');
    expect(
      await through(file, cipher.decrypt(rotating, OWNER, DOCUMENT)),
    ).toEqual(PDF);
    await expect(
      through(file, cipher.decrypt(onlyNew, OWNER, DOCUMENT)),
    ).rejects.toThrow(UnknownKeyVersionError);
  });

  it('re-encrypts a file under the active version (key rotation): the old key is no longer needed', async () => {
    const { cipher, file, rotating, onlyNew } =
      await beforeRotation('xchacha20-poly1305');
    const resealed = await through(
      file,
      ...cipher.reencrypt(rotating, OWNER, DOCUMENT),
    );
    expect(readStreamHeader(resealed).keyVersion).toBe(2);
    expect(
      await through(resealed, cipher.decrypt(onlyNew, OWNER, DOCUMENT)),
    ).toEqual(PDF);
  });

  it('re-encryption keeps the binding: a file of another document is refused, not re-sealed', async () => {
    const { cipher, file, rotating } =
      await beforeRotation('xchacha20-poly1305');
    const otherDocument = 'd0a3b8c6-4e5f-4071-8cbd-3e4f5a6b7c8d';
    await expect(
      through(file, ...cipher.reencrypt(rotating, OWNER, otherDocument)),
    ).rejects.toThrow(AuthenticationFailedError);
  });
});
