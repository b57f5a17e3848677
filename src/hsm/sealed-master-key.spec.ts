import {
  constants,
  createHash,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pkcs11SettingError } from './pkcs11-settings';
import {
  parseSealedMasterKey,
  readSealedMasterKeyFile,
  sealedMasterKeyAad,
  sealedMasterKeyOaepParameters,
  serializeSealedMasterKey,
} from './sealed-master-key';

/** The sealed file format without a token (the token round trips are in test/master-key-sources.e2e-spec.ts). */
describe('sealed master key file, version 1, CKM_AES_GCM', () => {
  const sealed = {
    mechanism: 'CKM_AES_GCM' as const,
    keyLabel: 'vault-master-1',
    iv: randomBytes(12),
    ciphertext: randomBytes(48),
  };
  const valid = () =>
    JSON.parse(serializeSealedMasterKey(sealed)) as Record<string, unknown>;

  it('serializes to a JSON object that parses back', () => {
    const text = serializeSealedMasterKey(sealed);
    expect(JSON.parse(text)).toEqual({
      format: 'vault-pii-sealed-master-key',
      version: 1,
      mechanism: 'CKM_AES_GCM',
      keyLabel: 'vault-master-1',
      iv: sealed.iv.toString('base64'),
      ciphertext: sealed.ciphertext.toString('base64'),
    });
    expect(parseSealedMasterKey(text)).toEqual(sealed);
  });

  it('reads a file written before RSA-OAEP existed, unchanged', () => {
    const text =
      '{\n  "format": "vault-pii-sealed-master-key",\n  "version": 1,\n  "mechanism": "CKM_AES_GCM",\n  "keyLabel": "K1",\n' +
      '  "iv": "AAECAwQFBgcICQoL",\n  "ciphertext": "' +
      Buffer.alloc(48, 7).toString('base64') +
      '"\n}\n';
    const parsed = parseSealedMasterKey(text);
    expect(parsed).toEqual({
      mechanism: 'CKM_AES_GCM',
      keyLabel: 'K1',
      iv: Buffer.from('000102030405060708090a0b', 'hex'),
      ciphertext: Buffer.alloc(48, 7),
    });
    expect(serializeSealedMasterKey(parsed as never)).toBe(text);
  });

  it('binds the format version, the mechanism and the key label in the AAD', () => {
    expect(sealedMasterKeyAad('k1').toString('utf8')).toBe(
      'vault-pii/v1/sealed-master-key\u00001\u0000CKM_AES_GCM\u0000k1',
    );
    expect(sealedMasterKeyAad('k1').equals(sealedMasterKeyAad('k2'))).toBe(
      false,
    );
  });

  it.each([
    ['not JSON', () => 'vault', 'not JSON'],
    ['an array', () => '[]', 'not a JSON object'],
    [
      'another format',
      () => JSON.stringify({ ...valid(), format: 'other' }),
      '"format" is not "vault-pii-sealed-master-key"',
    ],
    [
      'a later version',
      () => JSON.stringify({ ...valid(), version: 2 }),
      'format version 2 is not supported (this version reads 1)',
    ],
    [
      'a version as a string',
      () => JSON.stringify({ ...valid(), version: '1' }),
      'format version "1" is not supported (this version reads 1)',
    ],
    [
      'an unknown member',
      () => JSON.stringify({ ...valid(), note: 'x' }),
      'unknown member "note"',
    ],
    [
      'another mechanism',
      () => JSON.stringify({ ...valid(), mechanism: 'CKM_AES_CBC_PAD' }),
      'mechanism "CKM_AES_CBC_PAD" is not supported',
    ],
    [
      'no key label',
      () => JSON.stringify({ ...valid(), keyLabel: '' }),
      '"keyLabel" is missing',
    ],
    [
      'a short IV',
      () =>
        JSON.stringify({ ...valid(), iv: randomBytes(8).toString('base64') }),
      '"iv" is not 12 bytes in base64',
    ],
    [
      'a truncated ciphertext',
      () =>
        JSON.stringify({
          ...valid(),
          ciphertext: randomBytes(45).toString('base64'),
        }),
      '"ciphertext" is not 48 bytes in base64',
    ],
    [
      'a ciphertext that is not base64',
      () => JSON.stringify({ ...valid(), ciphertext: '!'.repeat(64) }),
      '"ciphertext" is not 48 bytes in base64',
    ],
    [
      'a missing ciphertext',
      () => JSON.stringify({ ...valid(), ciphertext: undefined }),
      '"ciphertext" is not 48 bytes in base64',
    ],
  ])('refuses %s', (_name, text, reason) => {
    expect(parseSealedMasterKey(text())).toEqual({ invalid: reason });
  });

  describe('readSealedMasterKeyFile', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'sealed-spec-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function problem(path: string): string {
      try {
        readSealedMasterKeyFile(path, 'APP_MASTER_KEY_SEALED');
      } catch (error) {
        expect(error).toBeInstanceOf(Pkcs11SettingError);
        return (error as Error).message;
      }
      throw new Error('expected a Pkcs11SettingError');
    }

    it('names the variable for a missing, a foreign and an oversized file, without echoing content', () => {
      expect(problem(join(dir, 'absent'))).toBe(
        `APP_MASTER_KEY_SEALED: cannot read ${join(dir, 'absent')} (no such file)`,
      );
      const plainKey = join(dir, 'plain');
      const secret = randomBytes(32).toString('base64');
      writeFileSync(plainKey, `${secret}\n`);
      expect(problem(plainKey)).toBe(
        `APP_MASTER_KEY_SEALED: ${plainKey} is not a sealed master key file (not JSON)`,
      );
      const large = join(dir, 'large');
      writeFileSync(large, ' '.repeat(5000));
      expect(problem(large)).toBe(
        `APP_MASTER_KEY_SEALED: ${large} is not a sealed master key file (too large)`,
      );
      expect(problem(plainKey)).not.toContain(secret.slice(0, 8));
    });
  });
});

describe('sealed master key file, version 1, CKM_RSA_PKCS_OAEP', () => {
  const sealed = {
    mechanism: 'CKM_RSA_PKCS_OAEP' as const,
    keyLabel: 'tpm-master-1',
    oaepHash: 'SHA-256' as const,
    ciphertext: randomBytes(384),
  };
  const valid = () =>
    JSON.parse(serializeSealedMasterKey(sealed)) as Record<string, unknown>;

  it('serializes to a JSON object that parses back, for each key size', () => {
    expect(valid()).toEqual({
      format: 'vault-pii-sealed-master-key',
      version: 1,
      mechanism: 'CKM_RSA_PKCS_OAEP',
      keyLabel: 'tpm-master-1',
      oaepHash: 'SHA-256',
      ciphertext: sealed.ciphertext.toString('base64'),
    });
    for (const bytes of [256, 384, 512]) {
      const other = {
        ...sealed,
        oaepHash: 'SHA-1' as const,
        ciphertext: randomBytes(bytes),
      };
      expect(parseSealedMasterKey(serializeSealedMasterKey(other))).toEqual(
        other,
      );
    }
  });

  it.each([
    [
      'another OAEP hash',
      () => JSON.stringify({ ...valid(), oaepHash: 'SHA-512' }),
      '"oaepHash" is not "SHA-256" or "SHA-1"',
    ],
    [
      'no OAEP hash',
      () => JSON.stringify({ ...valid(), oaepHash: undefined }),
      '"oaepHash" is not "SHA-256" or "SHA-1"',
    ],
    [
      'an AES-GCM member',
      () =>
        JSON.stringify({ ...valid(), iv: randomBytes(12).toString('base64') }),
      'unknown member "iv" for CKM_RSA_PKCS_OAEP',
    ],
    [
      'a ciphertext of no RSA key size',
      () =>
        JSON.stringify({
          ...valid(),
          ciphertext: randomBytes(300).toString('base64'),
        }),
      '"ciphertext" is not 256, 384, 512 bytes in base64',
    ],
    [
      'a truncated ciphertext',
      () =>
        JSON.stringify({
          ...valid(),
          ciphertext: randomBytes(383).toString('base64'),
        }),
      '"ciphertext" is not 256, 384, 512 bytes in base64',
    ],
    [
      'an RSA member in an AES-GCM file',
      () => JSON.stringify({ ...valid(), mechanism: 'CKM_AES_GCM' }),
      'unknown member "oaepHash"',
    ],
    [
      'raw RSA (no padding)',
      () => JSON.stringify({ ...valid(), mechanism: 'CKM_RSA_X_509' }),
      'mechanism "CKM_RSA_X_509" is not supported',
    ],
    [
      'PKCS #1 v1.5 padding',
      () => JSON.stringify({ ...valid(), mechanism: 'CKM_RSA_PKCS' }),
      'mechanism "CKM_RSA_PKCS" is not supported',
    ],
  ])('refuses %s', (_name, text, reason) => {
    expect(parseSealedMasterKey(text())).toEqual({ invalid: reason });
  });

  describe('OAEP parameters', () => {
    it('SHA-256: a 33-byte label, SHA-256 of the bound context then one zero byte (what a TPM accepts)', () => {
      const { hash, label } = sealedMasterKeyOaepParameters('SHA-256', 'k1');
      expect(hash).toBe('SHA-256');
      expect(label).toHaveLength(33);
      expect(label[32]).toBe(0);
      const context =
        'vault-pii/v1/sealed-master-key\u00001\u0000CKM_RSA_PKCS_OAEP\u0000SHA-256\u0000k1';
      expect(
        label
          .subarray(0, 32)
          .equals(createHash('sha256').update(context).digest()),
      ).toBe(true);
      expect(
        label.equals(sealedMasterKeyOaepParameters('SHA-256', 'k2').label),
      ).toBe(false);
    });

    it('SHA-1: no label (SoftHSM2 accepts none)', () => {
      expect(sealedMasterKeyOaepParameters('SHA-1', 'k1')).toEqual({
        hash: 'SHA-1',
        label: Buffer.alloc(0),
      });
    });

    it('a ciphertext made for one key label does not open under the label of another (software RSA)', () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
      });
      const masterKey = randomBytes(32);
      const oaep = (keyLabel: string) => ({
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: sealedMasterKeyOaepParameters('SHA-256', keyLabel).label,
      });
      const ciphertext = publicEncrypt(
        { key: publicKey, ...oaep('k1') },
        masterKey,
      );
      expect(
        privateDecrypt({ key: privateKey, ...oaep('k1') }, ciphertext).equals(
          masterKey,
        ),
      ).toBe(true);
      expect(() =>
        privateDecrypt({ key: privateKey, ...oaep('k2') }, ciphertext),
      ).toThrow();
    });
  });
});
