import {
  constants,
  createHash,
  createPublicKey,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  secureAlloc,
  secureCopy,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import {
  describeFsError,
  Pkcs11Settings,
  Pkcs11SettingError,
} from './pkcs11-settings';
import {
  GCM_TAG_BYTES,
  MechanismRefusedError,
  OaepHash,
  Pkcs11Token,
  RSA_SEALING_KEY_BITS,
  RsaOaepParameters,
  RsaPublicNumbers,
  TokenKey,
  withPkcs11Token,
} from './pkcs11-token';

/**
 * The master key sealed by a key that never leaves an HSM or TPM
 * (docs/operations.md#the-master-key-three-sources, `APP_MASTER_KEY_SEALED`). The sealed file is
 * JSON, one object, version 1, in one of two kinds, named by `mechanism`:
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
 * An AES-256 key on the token. The AAD is `vault-pii/v1/sealed-master-key` NUL `1` NUL
 * `CKM_AES_GCM` NUL key label (UTF-8): it binds the format version, the mechanism and the label of
 * the token key that sealed it, so a file whose label was edited does not open even under a key of
 * that label. The token is not bound: the same key replicated to another HSM of a cluster (or
 * restored from its backup) opens it.
 *
 * ```json
 * {
 *   "format": "vault-pii-sealed-master-key",
 *   "version": 1,
 *   "mechanism": "CKM_RSA_PKCS_OAEP",
 *   "keyLabel": "vault-master-1",
 *   "oaepHash": "SHA-256",
 *   "ciphertext": "<base64 of one RSA block: 256, 384 or 512 bytes>"
 * }
 * ```
 *
 * An RSA key pair on the token (TPMs: tpm2-pkcs11 has no AES-GCM). The master key is encrypted
 * with RSAES-OAEP (RFC 8017) to the pair's public key; `oaepHash` is the hash of OAEP and of its
 * MGF1. With SHA-256 the OAEP label is SHA-256(`vault-pii/v1/sealed-master-key` NUL `1` NUL
 * `CKM_RSA_PKCS_OAEP` NUL `SHA-256` NUL key label) followed by one zero byte (a TPM takes only
 * labels ending in zero, of at most 34 bytes on a SHA-256 TPM): it binds what the AES AAD binds.
 * With SHA-1 there is no label: SoftHSM2 accepts OAEP with SHA-1 and no label only. Sealing uses
 * SHA-256 and falls back to SHA-1 when the token refuses it. OAEP gives confidentiality and
 * detects alteration, but not origin: whoever holds the public key can seal a key of their own
 * choosing, so the file's integrity rests on who may write it.
 *
 * Unknown members (for the mechanism), another version or mechanism, and wrong lengths are refused.
 */

export const SEALED_MASTER_KEY_FORMAT = 'vault-pii-sealed-master-key';
export const SEALED_MASTER_KEY_VERSION = 1;
export const AES_GCM_MECHANISM = 'CKM_AES_GCM';
export const RSA_OAEP_MECHANISM = 'CKM_RSA_PKCS_OAEP';

export type SealingMechanism =
  typeof AES_GCM_MECHANISM | typeof RSA_OAEP_MECHANISM;

const MASTER_KEY_BYTES = 32;
const IV_BYTES = 12;
const CIPHERTEXT_BYTES = MASTER_KEY_BYTES + GCM_TAG_BYTES;
const RSA_CIPHERTEXT_BYTES = RSA_SEALING_KEY_BITS.map((bits) => bits / 8);
const OAEP_HASHES: readonly OaepHash[] = ['SHA-256', 'SHA-1'];
/** A version-1 file is at most about 900 bytes (RSA-4096); a larger file is not one. */
const SEALED_FILE_MAX_BYTES = 4096;
const MEMBERS: Record<SealingMechanism, string[]> = {
  [AES_GCM_MECHANISM]: [
    'format',
    'version',
    'mechanism',
    'keyLabel',
    'iv',
    'ciphertext',
  ],
  [RSA_OAEP_MECHANISM]: [
    'format',
    'version',
    'mechanism',
    'keyLabel',
    'oaepHash',
    'ciphertext',
  ],
};

export interface AesGcmSealedMasterKey {
  mechanism: typeof AES_GCM_MECHANISM;
  keyLabel: string;
  iv: Buffer;
  /** The encrypted master key followed by the GCM tag. */
  ciphertext: Buffer;
}

export interface RsaOaepSealedMasterKey {
  mechanism: typeof RSA_OAEP_MECHANISM;
  keyLabel: string;
  oaepHash: OaepHash;
  /** One RSA block, as long as the key's modulus. */
  ciphertext: Buffer;
}

export type SealedMasterKey = AesGcmSealedMasterKey | RsaOaepSealedMasterKey;

/** The additional authenticated data of a version-1 AES-GCM file sealed under the key labelled `keyLabel`. */
export function sealedMasterKeyAad(keyLabel: string): Buffer {
  return Buffer.from(sealingContext(AES_GCM_MECHANISM, keyLabel), 'utf8');
}

/** `vault-pii/v1/sealed-master-key` NUL format version NUL `parts` joined by NUL: what a sealed file binds. */
function sealingContext(...parts: string[]): string {
  return [
    'vault-pii/v1/sealed-master-key',
    String(SEALED_MASTER_KEY_VERSION),
    ...parts,
  ].join('\0');
}

/** The OAEP parameters of a version-1 RSA file: SHA-256 with its bound label, or SHA-1 without one. */
export function sealedMasterKeyOaepParameters(
  hash: OaepHash,
  keyLabel: string,
): RsaOaepParameters {
  if (hash === 'SHA-1') return { hash, label: Buffer.alloc(0) };
  const context = sealingContext(RSA_OAEP_MECHANISM, hash, keyLabel);
  return {
    hash,
    label: Buffer.concat([
      createHash('sha256').update(context, 'utf8').digest(),
      Buffer.from([0]),
    ]),
  };
}

export function serializeSealedMasterKey(sealed: SealedMasterKey): string {
  const common = {
    format: SEALED_MASTER_KEY_FORMAT,
    version: SEALED_MASTER_KEY_VERSION,
    mechanism: sealed.mechanism,
    keyLabel: sealed.keyLabel,
  };
  const file =
    sealed.mechanism === AES_GCM_MECHANISM
      ? {
          ...common,
          iv: sealed.iv.toString('base64'),
          ciphertext: sealed.ciphertext.toString('base64'),
        }
      : {
          ...common,
          oaepHash: sealed.oaepHash,
          ciphertext: sealed.ciphertext.toString('base64'),
        };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/**
 * Parses a sealed file's text.
 *
 * @returns the sealed key, or the reason the text is not a version-1 sealed master key.
 */
export function parseSealedMasterKey(
  text: string,
): SealedMasterKey | { invalid: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { invalid: 'not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { invalid: 'not a JSON object' };
  const file = parsed as Record<string, unknown>;
  if (file.format !== SEALED_MASTER_KEY_FORMAT)
    return { invalid: `"format" is not "${SEALED_MASTER_KEY_FORMAT}"` };
  if (file.version !== SEALED_MASTER_KEY_VERSION) {
    return {
      invalid: `format version ${JSON.stringify(file.version)} is not supported (this version reads ${SEALED_MASTER_KEY_VERSION})`,
    };
  }
  const mechanism = file.mechanism;
  if (mechanism !== AES_GCM_MECHANISM && mechanism !== RSA_OAEP_MECHANISM)
    return {
      invalid: `mechanism ${JSON.stringify(mechanism)} is not supported`,
    };
  const unknown = Object.keys(file).filter(
    (member) => !MEMBERS[mechanism].includes(member),
  );
  if (unknown.length > 0)
    return {
      invalid: `unknown member ${JSON.stringify(unknown[0])}${mechanism === RSA_OAEP_MECHANISM ? ` for ${mechanism}` : ''}`,
    };
  if (typeof file.keyLabel !== 'string' || file.keyLabel === '')
    return { invalid: '"keyLabel" is missing' };
  if (mechanism === AES_GCM_MECHANISM) {
    const iv = decodeExactBase64(file.iv, IV_BYTES);
    if (!iv) return { invalid: `"iv" is not ${IV_BYTES} bytes in base64` };
    const ciphertext = decodeExactBase64(file.ciphertext, CIPHERTEXT_BYTES);
    if (!ciphertext)
      return {
        invalid: `"ciphertext" is not ${CIPHERTEXT_BYTES} bytes in base64`,
      };
    return { mechanism, keyLabel: file.keyLabel, iv, ciphertext };
  }
  const oaepHash = OAEP_HASHES.find((hash) => hash === file.oaepHash);
  if (!oaepHash)
    return {
      invalid: `"oaepHash" is not ${OAEP_HASHES.map((hash) => `"${hash}"`).join(' or ')}`,
    };
  const ciphertext = RSA_CIPHERTEXT_BYTES.map((bytes) =>
    decodeExactBase64(file.ciphertext, bytes),
  ).find((decoded) => decoded !== undefined);
  if (!ciphertext)
    return {
      invalid: `"ciphertext" is not ${RSA_CIPHERTEXT_BYTES.join(', ')} bytes in base64`,
    };
  return { mechanism, keyLabel: file.keyLabel, oaepHash, ciphertext };
}

function decodeExactBase64(value: unknown, bytes: number): Buffer | undefined {
  const characters = Math.ceil(bytes / 3) * 4;
  if (
    typeof value !== 'string' ||
    value.length !== characters ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(value)
  )
    return undefined;
  const decoded = Buffer.from(value, 'base64');
  return decoded.length === bytes ? decoded : undefined;
}

/**
 * Reads and parses a sealed file (it holds no secret in the clear: plain reads are fine).
 *
 * @throws Pkcs11SettingError naming `variable` when the file cannot be read or is not one.
 */
export function readSealedMasterKeyFile(
  path: string,
  variable: string,
): SealedMasterKey {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    throw new Pkcs11SettingError(
      variable,
      `cannot read ${path} (${describeFsError(error)})`,
    );
  }
  if (content.length > SEALED_FILE_MAX_BYTES)
    throw new Pkcs11SettingError(
      variable,
      `${path} is not a sealed master key file (too large)`,
    );
  const sealed = parseSealedMasterKey(content.toString('utf8'));
  if ('invalid' in sealed)
    throw new Pkcs11SettingError(
      variable,
      `${path} is not a sealed master key file (${sealed.invalid})`,
    );
  return sealed;
}

/** A key on the token that seals: an AES-256 key, or an RSA private key (its pair's public half encrypts). */
export interface SealingKey extends TokenKey {
  mechanism: SealingMechanism;
}

/**
 * Seals `masterKey` under the token key `key`, then opens the result again on the token and
 * compares, so a file that would not open is never written.
 * - AES-GCM: encrypted on the token with a fresh random IV.
 * - RSA-OAEP: encrypted here (node:crypto) to the public numbers the token reports for the key,
 *   OAEP with SHA-256 and the bound label; when the token refuses those parameters at
 *   C_DecryptInit (SoftHSM2 knows only SHA-1 without a label), again with SHA-1 and no label.
 *   Encrypting in software needs no public-key operation from the token (tpm2-pkcs11 gives its
 *   public keys CKA_ENCRYPT only with the private key's signing right), and the round trip then
 *   checks the token's OAEP against an independent implementation.
 *
 * @returns the sealed key, and a note when RSA-OAEP fell back to SHA-1.
 */
export function sealMasterKey(
  token: Pkcs11Token,
  key: SealingKey,
  masterKey: Buffer,
): { sealed: SealedMasterKey; note?: string } {
  if (masterKey.length !== MASTER_KEY_BYTES)
    throw new RangeError(`a master key is ${MASTER_KEY_BYTES} bytes`);
  if (key.mechanism === AES_GCM_MECHANISM) {
    const iv = randomBytes(IV_BYTES);
    const ciphertext = token.encryptAesGcm(
      key,
      { iv, aad: sealedMasterKeyAad(key.label) },
      masterKey,
    );
    const sealed: AesGcmSealedMasterKey = {
      mechanism: AES_GCM_MECHANISM,
      keyLabel: key.label,
      iv,
      ciphertext,
    };
    checkRoundTrip(token, sealed, key, masterKey);
    return { sealed };
  }
  const publicKey = rsaPublicKey(token.rsaPublicNumbers(key));
  let note: string | undefined;
  for (const oaepHash of OAEP_HASHES) {
    const parameters = sealedMasterKeyOaepParameters(oaepHash, key.label);
    const ciphertext = publicEncrypt(
      {
        key: publicKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: oaepHash === 'SHA-256' ? 'sha256' : 'sha1',
        oaepLabel: parameters.label,
      },
      masterKey,
    );
    const sealed: RsaOaepSealedMasterKey = {
      mechanism: RSA_OAEP_MECHANISM,
      keyLabel: key.label,
      oaepHash,
      ciphertext,
    };
    try {
      checkRoundTrip(token, sealed, key, masterKey);
      return { sealed, note };
    } catch (error) {
      if (
        !(error instanceof MechanismRefusedError) ||
        oaepHash === OAEP_HASHES[OAEP_HASHES.length - 1]
      )
        throw error;
      note = `the token refused OAEP with ${oaepHash} (${error.code}); sealed with OAEP SHA-1 (MGF1-SHA-1) and no label`;
    }
  }
  throw new Error('unreachable: the last OAEP hash either seals or throws');
}

function checkRoundTrip(
  token: Pkcs11Token,
  sealed: SealedMasterKey,
  key: TokenKey,
  masterKey: Buffer,
): void {
  const reopened = unsealMasterKey(token, sealed, 'PKCS11_KEY_LABEL', key);
  try {
    if (!timingSafeEqual(reopened, masterKey)) {
      throw new Pkcs11SettingError(
        'PKCS11_KEY_LABEL',
        `the token's ${sealed.mechanism} with the key labelled "${key.label}" did not round-trip`,
      );
    }
  } finally {
    zeroBuffer(reopened);
  }
}

function rsaPublicKey(numbers: RsaPublicNumbers) {
  return createPublicKey({
    key: {
      kty: 'RSA',
      n: stripLeadingZeros(numbers.modulus).toString('base64url'),
      e: stripLeadingZeros(numbers.publicExponent).toString('base64url'),
    },
    format: 'jwk',
  });
}

function stripLeadingZeros(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return value.subarray(start);
}

/**
 * Opens `sealed` on the token with the key labelled `sealed.keyLabel` (or `key`, when given), of
 * the kind its mechanism names. The plaintext goes straight into secure memory: for RSA, a buffer
 * of the ciphertext's length (tokens ask room for a whole modulus), of which the token fills the
 * first bytes and reports how many; the 32 are copied out and the whole buffer is wiped.
 *
 * @returns the master key in secure memory (release it with `zeroBuffer`).
 * @throws Pkcs11SettingError naming `variable` when it does not open.
 */
export function unsealMasterKey(
  token: Pkcs11Token,
  sealed: SealedMasterKey,
  variable: string,
  key?: TokenKey,
): Buffer {
  const out = secureAlloc(sealed.ciphertext.length);
  try {
    let length: number | undefined;
    if (sealed.mechanism === AES_GCM_MECHANISM) {
      const tokenKey = key ?? token.requireAesKey(sealed.keyLabel);
      // Room for the ciphertext with its tag: SoftHSM (and others) ask for the whole input length.
      length = token.decryptAesGcmInto(
        tokenKey,
        { iv: sealed.iv, aad: sealedMasterKeyAad(sealed.keyLabel) },
        sealed.ciphertext,
        out,
      );
    } else {
      const tokenKey = key ?? token.requireRsaPrivateKey(sealed.keyLabel);
      length = token.decryptRsaOaepInto(
        tokenKey,
        sealedMasterKeyOaepParameters(sealed.oaepHash, sealed.keyLabel),
        sealed.ciphertext,
        out,
      );
    }
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
export function openSealedMasterKey(
  settings: Pkcs11Settings,
  path: string,
  variable = 'APP_MASTER_KEY_SEALED',
): Buffer {
  const sealed = readSealedMasterKeyFile(path, variable);
  if (sealed.keyLabel !== settings.keyLabel) {
    throw new Pkcs11SettingError(
      'PKCS11_KEY_LABEL',
      `is "${settings.keyLabel}", but ${variable} was sealed under the key labelled "${sealed.keyLabel}"`,
    );
  }
  return withPkcs11Token(settings, { readWrite: false }, (token) =>
    unsealMasterKey(token, sealed, variable),
  );
}
