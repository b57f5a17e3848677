import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { secureAlloc, secureCopy, zeroBuffer } from '../crypto/secure-memory';
import { describeFsError, Pkcs11Settings, Pkcs11SettingError } from './pkcs11-settings';
import { GCM_TAG_BYTES, Pkcs11Token, TokenKey, withPkcs11Token } from './pkcs11-token';

/**
 * The master key sealed by an AES-256 key that never leaves an HSM or TPM (SPEC §1,
 * `APP_MASTER_KEY_SEALED`). The sealed file is JSON, one object, version 1:
 *
 * ```json
 * {
 *   "format": "vault-pii-sealed-master-key",
 *   "version": 1,
 *   "mechanism": "CKM_AES_GCM",
 *   "keyLabel": "vault-master-1",
 *   "iv": "<base64 of 12 random bytes>",
 *   "ciphertext": "<base64 of 48 bytes: the 32-byte master key encrypted, then the 16-byte tag>"
 * }
 * ```
 *
 * The AAD is `vault-pii/v1/sealed-master-key` NUL `1` NUL `CKM_AES_GCM` NUL key label (UTF-8):
 * it binds the format version, the mechanism and the label of the token key that sealed it, so
 * a file whose label was edited does not open even under a key of that label. The token is not
 * bound: the same key replicated to another HSM of a cluster (or restored from its backup) opens
 * it. Unknown members, another version or mechanism, and wrong lengths are refused.
 */

export const SEALED_MASTER_KEY_FORMAT = 'vault-pii-sealed-master-key';
export const SEALED_MASTER_KEY_VERSION = 1;
export const SEALED_MASTER_KEY_MECHANISM = 'CKM_AES_GCM';

const MASTER_KEY_BYTES = 32;
const IV_BYTES = 12;
const CIPHERTEXT_BYTES = MASTER_KEY_BYTES + GCM_TAG_BYTES;
/** A version-1 file is about 250 bytes; a larger file is not one. */
const SEALED_FILE_MAX_BYTES = 4096;
const MEMBERS = ['format', 'version', 'mechanism', 'keyLabel', 'iv', 'ciphertext'];

export interface SealedMasterKey {
  keyLabel: string;
  iv: Buffer;
  /** The encrypted master key followed by the GCM tag. */
  ciphertext: Buffer;
}

/** The additional authenticated data of a version-1 file sealed under the key labelled `keyLabel`. */
export function sealedMasterKeyAad(keyLabel: string): Buffer {
  return Buffer.from(
    `vault-pii/v1/sealed-master-key\0${SEALED_MASTER_KEY_VERSION}\0${SEALED_MASTER_KEY_MECHANISM}\0${keyLabel}`,
    'utf8',
  );
}

export function serializeSealedMasterKey(sealed: SealedMasterKey): string {
  const file = {
    format: SEALED_MASTER_KEY_FORMAT,
    version: SEALED_MASTER_KEY_VERSION,
    mechanism: SEALED_MASTER_KEY_MECHANISM,
    keyLabel: sealed.keyLabel,
    iv: sealed.iv.toString('base64'),
    ciphertext: sealed.ciphertext.toString('base64'),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/**
 * Parses a sealed file's text.
 *
 * @returns the sealed key, or the reason the text is not a version-1 sealed master key.
 */
export function parseSealedMasterKey(text: string): SealedMasterKey | { invalid: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { invalid: 'not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { invalid: 'not a JSON object' };
  const file = parsed as Record<string, unknown>;
  if (file.format !== SEALED_MASTER_KEY_FORMAT) return { invalid: `"format" is not "${SEALED_MASTER_KEY_FORMAT}"` };
  if (file.version !== SEALED_MASTER_KEY_VERSION) {
    return { invalid: `format version ${JSON.stringify(file.version)} is not supported (this version reads ${SEALED_MASTER_KEY_VERSION})` };
  }
  const unknown = Object.keys(file).filter((member) => !MEMBERS.includes(member));
  if (unknown.length > 0) return { invalid: `unknown member ${JSON.stringify(unknown[0])}` };
  if (file.mechanism !== SEALED_MASTER_KEY_MECHANISM) return { invalid: `mechanism ${JSON.stringify(file.mechanism)} is not supported` };
  if (typeof file.keyLabel !== 'string' || file.keyLabel === '') return { invalid: '"keyLabel" is missing' };
  const iv = decodeExactBase64(file.iv, IV_BYTES);
  if (!iv) return { invalid: `"iv" is not ${IV_BYTES} bytes in base64` };
  const ciphertext = decodeExactBase64(file.ciphertext, CIPHERTEXT_BYTES);
  if (!ciphertext) return { invalid: `"ciphertext" is not ${CIPHERTEXT_BYTES} bytes in base64` };
  return { keyLabel: file.keyLabel, iv, ciphertext };
}

function decodeExactBase64(value: unknown, bytes: number): Buffer | undefined {
  const characters = Math.ceil(bytes / 3) * 4;
  if (typeof value !== 'string' || value.length !== characters || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const decoded = Buffer.from(value, 'base64');
  return decoded.length === bytes ? decoded : undefined;
}

/**
 * Reads and parses a sealed file (it holds no secret in the clear: plain reads are fine).
 *
 * @throws Pkcs11SettingError naming `variable` when the file cannot be read or is not one.
 */
export function readSealedMasterKeyFile(path: string, variable: string): SealedMasterKey {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    throw new Pkcs11SettingError(variable, `cannot read ${path} (${describeFsError(error)})`);
  }
  if (content.length > SEALED_FILE_MAX_BYTES) throw new Pkcs11SettingError(variable, `${path} is not a sealed master key file (too large)`);
  const sealed = parseSealedMasterKey(content.toString('utf8'));
  if ('invalid' in sealed) throw new Pkcs11SettingError(variable, `${path} is not a sealed master key file (${sealed.invalid})`);
  return sealed;
}

/**
 * Seals `masterKey` under the token key `key` (labelled `keyLabel`) with a fresh random IV, then
 * opens the result again on the token and compares, so a file that would not open is never written.
 */
export function sealMasterKey(token: Pkcs11Token, key: TokenKey, masterKey: Buffer): SealedMasterKey {
  if (masterKey.length !== MASTER_KEY_BYTES) throw new RangeError(`a master key is ${MASTER_KEY_BYTES} bytes`);
  const iv = randomBytes(IV_BYTES);
  const ciphertext = token.encryptAesGcm(key, { iv, aad: sealedMasterKeyAad(key.label) }, masterKey);
  const sealed = { keyLabel: key.label, iv, ciphertext };
  const reopened = unsealMasterKey(token, sealed, 'PKCS11_KEY_LABEL', key);
  try {
    if (!timingSafeEqual(reopened, masterKey)) {
      throw new Pkcs11SettingError('PKCS11_KEY_LABEL', `the token's AES-GCM with the key labelled "${key.label}" did not round-trip`);
    }
  } finally {
    zeroBuffer(reopened);
  }
  return sealed;
}

/**
 * Opens `sealed` on the token with the key labelled `sealed.keyLabel` (or `key`, when given).
 *
 * @returns the master key in secure memory (release it with `zeroBuffer`).
 * @throws Pkcs11SettingError naming `variable` when it does not open.
 */
export function unsealMasterKey(token: Pkcs11Token, sealed: SealedMasterKey, variable: string, key?: TokenKey): Buffer {
  const tokenKey = key ?? token.requireAesKey(sealed.keyLabel);
  // Room for the ciphertext with its tag: SoftHSM (and others) ask for the whole input length.
  const out = secureAlloc(sealed.ciphertext.length);
  try {
    const length = token.decryptAesGcmInto(tokenKey, { iv: sealed.iv, aad: sealedMasterKeyAad(sealed.keyLabel) }, sealed.ciphertext, out);
    if (length !== MASTER_KEY_BYTES) {
      throw new Pkcs11SettingError(
        variable,
        `does not open with the key labelled "${sealed.keyLabel}" on token "${token.tokenLabel}": sealed under another key, or altered`,
      );
    }
    return secureCopy(out.subarray(0, MASTER_KEY_BYTES));
  } finally {
    zeroBuffer(out);
  }
}

/**
 * The master key from the sealed file at `path`, opened on the token of `settings` (start-up:
 * open, log in, find the key, decrypt into secure memory, log out, close, finalize).
 *
 * @throws Pkcs11SettingError naming the variable to fix.
 */
export function openSealedMasterKey(settings: Pkcs11Settings, path: string, variable = 'APP_MASTER_KEY_SEALED'): Buffer {
  const sealed = readSealedMasterKeyFile(path, variable);
  if (sealed.keyLabel !== settings.keyLabel) {
    throw new Pkcs11SettingError(
      'PKCS11_KEY_LABEL',
      `is "${settings.keyLabel}", but ${variable} was sealed under the key labelled "${sealed.keyLabel}"`,
    );
  }
  return withPkcs11Token(settings, { readWrite: false }, (token) => unsealMasterKey(token, sealed, variable));
}
