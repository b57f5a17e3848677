import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pkcs11SettingError } from './pkcs11-settings';
import { parseSealedMasterKey, readSealedMasterKeyFile, sealedMasterKeyAad, serializeSealedMasterKey } from './sealed-master-key';

/** The sealed file format without a token (the token round trips are in test/master-key-sources.e2e-spec.ts). */
describe('sealed master key file, version 1', () => {
  const sealed = { keyLabel: 'vault-master-1', iv: randomBytes(12), ciphertext: randomBytes(48) };
  const valid = () => JSON.parse(serializeSealedMasterKey(sealed)) as Record<string, unknown>;

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

  it('binds the format version, the mechanism and the key label in the AAD', () => {
    expect(sealedMasterKeyAad('k1').toString('utf8')).toBe('vault-pii/v1/sealed-master-key\u00001\u0000CKM_AES_GCM\u0000k1');
    expect(sealedMasterKeyAad('k1').equals(sealedMasterKeyAad('k2'))).toBe(false);
  });

  it.each([
    ['not JSON', () => 'vault', 'not JSON'],
    ['an array', () => '[]', 'not a JSON object'],
    ['another format', () => JSON.stringify({ ...valid(), format: 'other' }), '"format" is not "vault-pii-sealed-master-key"'],
    ['a later version', () => JSON.stringify({ ...valid(), version: 2 }), 'format version 2 is not supported (this version reads 1)'],
    ['a version as a string', () => JSON.stringify({ ...valid(), version: '1' }), 'format version "1" is not supported (this version reads 1)'],
    ['an unknown member', () => JSON.stringify({ ...valid(), note: 'x' }), 'unknown member "note"'],
    ['another mechanism', () => JSON.stringify({ ...valid(), mechanism: 'CKM_AES_CBC_PAD' }), 'mechanism "CKM_AES_CBC_PAD" is not supported'],
    ['no key label', () => JSON.stringify({ ...valid(), keyLabel: '' }), '"keyLabel" is missing'],
    ['a short IV', () => JSON.stringify({ ...valid(), iv: randomBytes(8).toString('base64') }), '"iv" is not 12 bytes in base64'],
    ['a truncated ciphertext', () => JSON.stringify({ ...valid(), ciphertext: randomBytes(45).toString('base64') }), '"ciphertext" is not 48 bytes in base64'],
    ['a ciphertext that is not base64', () => JSON.stringify({ ...valid(), ciphertext: '!'.repeat(64) }), '"ciphertext" is not 48 bytes in base64'],
    ['a missing ciphertext', () => JSON.stringify({ ...valid(), ciphertext: undefined }), '"ciphertext" is not 48 bytes in base64'],
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
      expect(problem(join(dir, 'absent'))).toBe(`APP_MASTER_KEY_SEALED: cannot read ${join(dir, 'absent')} (no such file)`);
      const plainKey = join(dir, 'plain');
      const secret = randomBytes(32).toString('base64');
      writeFileSync(plainKey, `${secret}\n`);
      expect(problem(plainKey)).toBe(`APP_MASTER_KEY_SEALED: ${plainKey} is not a sealed master key file (not JSON)`);
      const large = join(dir, 'large');
      writeFileSync(large, ' '.repeat(5000));
      expect(problem(large)).toBe(`APP_MASTER_KEY_SEALED: ${large} is not a sealed master key file (too large)`);
      expect(problem(plainKey)).not.toContain(secret.slice(0, 8));
    });
  });
});
