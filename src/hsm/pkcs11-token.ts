import { endianness } from 'node:os';
import type * as Pkcs11Binding from 'pkcs11js';
import { Pkcs11Settings, Pkcs11SettingError } from './pkcs11-settings';

/**
 * An HSM or TPM reached through PKCS#11 (the `pkcs11js` binding, synchronous calls), reduced to
 * what the sealed master key needs: one session on one token, and a sealing key found or created
 * by label — an AES-256 key used with CKM_AES_GCM, or (for TPMs, whose tpm2-pkcs11 has no AES-GCM)
 * an RSA key pair whose private key decrypts CKM_RSA_PKCS_OAEP. Private and secret keys never
 * leave the token; plaintext is written straight into a Buffer the caller provides (secure memory).
 *
 * Every failure is a `Pkcs11SettingError` naming the variable to fix; no message carries the PIN.
 */

/** The CKR_* name of a PKCS#11 error, or the error's message. */
function ckr(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  return /^CKR_[A-Z0-9_]+$/.test(message) ? message : message.split('\n')[0];
}

type Handle = Buffer;

/** A key object on the token, with the label it was found or created under (for messages). */
export interface TokenKey {
  handle: Handle;
  label: string;
}

export interface AesGcmParameters {
  iv: Buffer;
  aad: Buffer;
}

/** AES-GCM's tag, the full 128 bits. */
export const GCM_TAG_BYTES = 16;

/** The OAEP hash, also MGF1's (the one pairing tpm2-pkcs11 offers: a TPM uses one hash for both). */
export type OaepHash = 'SHA-256' | 'SHA-1';

export interface RsaOaepParameters {
  hash: OaepHash;
  /** OAEP's label L; empty for none (SoftHSM2 accepts no other). */
  label: Buffer;
}

/** An RSA public key as the token reports it (big-endian unsigned integers). */
export interface RsaPublicNumbers {
  modulus: Buffer;
  publicExponent: Buffer;
}

/** RSA key sizes a sealing key may have; new key pairs are 2048 or 3072 bits. */
export const RSA_SEALING_KEY_BITS = [2048, 3072, 4096] as const;
export const RSA_NEW_KEY_BITS = [2048, 3072] as const;

/** CK_RSA_PKCS_OAEP_SOURCE_TYPE CKZ_DATA_SPECIFIED (pkcs11js does not export it). */
const CKZ_DATA_SPECIFIED = 0x00000001;

/**
 * The token refused a mechanism or its parameters at C_DecryptInit (e.g. SoftHSM2, which knows
 * OAEP with SHA-1 only). Still a Pkcs11SettingError naming the variable, if nobody catches it.
 */
export class MechanismRefusedError extends Pkcs11SettingError {
  constructor(
    variable: string,
    detail: string,
    readonly code: string,
  ) {
    super(variable, detail);
    this.name = 'MechanismRefusedError';
  }
}

/** Codes by which a token says "not this mechanism, or not with these parameters". */
const MECHANISM_REFUSALS = new Set([
  'CKR_MECHANISM_INVALID',
  'CKR_MECHANISM_PARAM_INVALID',
  'CKR_ARGUMENTS_BAD',
]);

/**
 * One logged-in session on the token labelled `settings.tokenLabel`. Open it with
 * `withPkcs11Token`, which always logs out, closes the session and finalizes the library.
 */
export class Pkcs11Token {
  private constructor(
    private readonly binding: typeof Pkcs11Binding,
    private readonly library: Pkcs11Binding.PKCS11,
    private readonly session: Handle,
    private readonly settings: Pkcs11Settings,
    private readonly ownsInitialize: boolean,
  ) {}

  /** Loads the library, finds the token, opens a session and logs in as the user. */
  static open(
    settings: Pkcs11Settings,
    options: { readWrite: boolean },
  ): Pkcs11Token {
    const binding = loadBinding();
    const library = new binding.PKCS11();
    try {
      library.load(settings.modulePath);
    } catch (error) {
      throw new Pkcs11SettingError(
        'PKCS11_MODULE',
        `${settings.modulePath} cannot be loaded as a PKCS#11 library (${ckr(error)})`,
      );
    }
    let ownsInitialize = true;
    try {
      library.C_Initialize();
    } catch (error) {
      if (ckr(error) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
        ownsInitialize = false;
      } else {
        closeQuietly(library, true);
        throw new Pkcs11SettingError(
          'PKCS11_MODULE',
          `C_Initialize failed (${ckr(error)})`,
        );
      }
    }
    let session: Handle | undefined;
    try {
      const slot = findTokenSlot(binding, library, settings.tokenLabel);
      const flags =
        binding.CKF_SERIAL_SESSION |
        (options.readWrite ? binding.CKF_RW_SESSION : 0);
      try {
        session = library.C_OpenSession(slot, flags);
      } catch (error) {
        throw new Pkcs11SettingError(
          'PKCS11_TOKEN_LABEL',
          `the token "${settings.tokenLabel}" refused a session (${ckr(error)})`,
        );
      }
      login(binding, library, session, settings);
      return new Pkcs11Token(
        binding,
        library,
        session,
        settings,
        ownsInitialize,
      );
    } catch (error) {
      if (session) tryCall(() => library.C_CloseSession(session as Handle));
      closeQuietly(library, ownsInitialize);
      throw error;
    }
  }

  /**
   * The AES key labelled `label` on the token, or `undefined` when there is none.
   *
   * @throws Pkcs11SettingError when several keys share the label (which one would be used is
   *   up to the token: refuse rather than guess).
   */
  findAesKey(
    label: string,
    variable = 'PKCS11_KEY_LABEL',
  ): TokenKey | undefined {
    const found = this.findObjects(
      this.binding.CKO_SECRET_KEY,
      this.binding.CKK_AES,
      label,
    );
    if (found.length > 1) {
      throw new Pkcs11SettingError(
        variable,
        `several AES keys are labelled "${label}" on token "${this.tokenLabel}"; labels must be unique`,
      );
    }
    return found.length === 1 ? { handle: found[0], label } : undefined;
  }

  /** The AES key labelled `label`, or a problem naming `variable` when the token has none. */
  requireAesKey(label: string, variable = 'PKCS11_KEY_LABEL'): TokenKey {
    const key = this.findAesKey(label, variable);
    if (!key)
      throw new Pkcs11SettingError(
        variable,
        `no AES key labelled "${label}" on token "${this.tokenLabel}"`,
      );
    return key;
  }

  /**
   * A new AES-256 key on the token: persistent, private, sensitive and never extractable, allowed
   * to encrypt and decrypt and nothing else (no wrap, unwrap, sign, derive).
   */
  createAesKey(label: string, variable = 'PKCS11_KEY_LABEL'): TokenKey {
    const b = this.binding;
    try {
      const handle = this.library.C_GenerateKey(
        this.session,
        { mechanism: b.CKM_AES_KEY_GEN },
        [
          { type: b.CKA_CLASS, value: b.CKO_SECRET_KEY },
          { type: b.CKA_KEY_TYPE, value: b.CKK_AES },
          { type: b.CKA_VALUE_LEN, value: 32 },
          ...protectedKeyAttributes(b, label),
          { type: b.CKA_ENCRYPT, value: true },
          { type: b.CKA_DECRYPT, value: true },
          { type: b.CKA_WRAP, value: false },
          { type: b.CKA_UNWRAP, value: false },
          { type: b.CKA_SIGN, value: false },
          { type: b.CKA_VERIFY, value: false },
          { type: b.CKA_DERIVE, value: false },
        ],
      );
      return { handle, label };
    } catch (error) {
      const code = ckr(error);
      // tpm2-pkcs11 (TPMs) has no C_GenerateKey and no CKM_AES_GCM.
      const hint =
        code === 'CKR_FUNCTION_NOT_SUPPORTED' ||
        code === 'CKR_MECHANISM_INVALID'
          ? '; a token without AES keys (a TPM through tpm2-pkcs11) seals with --mechanism rsa-oaep'
          : '';
      throw new Pkcs11SettingError(
        variable,
        `the token could not create an AES-256 key labelled "${label}" (${code})${hint}`,
      );
    }
  }

  /**
   * Refuses a key the sealed master key should not depend on: not AES-256, or one whose value
   * can leave the token (extractable or not sensitive).
   */
  checkSealingKey(key: TokenKey, variable = 'PKCS11_KEY_LABEL'): void {
    const b = this.binding;
    const label = key.label;
    const [length, extractable, sensitive] = this.library.C_GetAttributeValue(
      this.session,
      key.handle,
      [
        { type: b.CKA_VALUE_LEN },
        { type: b.CKA_EXTRACTABLE },
        { type: b.CKA_SENSITIVE },
      ],
    );
    const bytes = readUlong(length.value);
    if (bytes !== 32)
      throw new Pkcs11SettingError(
        variable,
        `the key labelled "${label}" is AES-${bytes * 8}, not AES-256`,
      );
    if (readBool(extractable.value) || !readBool(sensitive.value)) {
      throw new Pkcs11SettingError(
        variable,
        `the key labelled "${label}" can be extracted from the token (CKA_EXTRACTABLE or not CKA_SENSITIVE); seal under a key that cannot`,
      );
    }
  }

  /** AES-GCM encryption on the token: ciphertext ‖ 16-byte tag. */
  encryptAesGcm(
    key: TokenKey,
    parameters: AesGcmParameters,
    plaintext: Buffer,
  ): Buffer {
    try {
      this.library.C_EncryptInit(
        this.session,
        this.gcmMechanism(parameters),
        key.handle,
      );
      return this.library.C_Encrypt(
        this.session,
        plaintext,
        Buffer.alloc(plaintext.length + GCM_TAG_BYTES),
      );
    } catch (error) {
      throw new Pkcs11SettingError(
        'PKCS11_KEY_LABEL',
        `the token could not encrypt with the key labelled "${key.label}" using CKM_AES_GCM (${ckr(error)})`,
      );
    }
  }

  /**
   * AES-GCM decryption on the token, written straight into `out` (which must have room for the
   * ciphertext with its tag: some tokens, SoftHSM among them, ask for that much).
   *
   * @returns the plaintext length, or `undefined` when the token refused to open the ciphertext
   *   (wrong key, altered ciphertext, IV or AAD).
   * @throws Pkcs11SettingError when the key may not decrypt or the token lacks CKM_AES_GCM.
   */
  decryptAesGcmInto(
    key: TokenKey,
    parameters: AesGcmParameters,
    ciphertext: Buffer,
    out: Buffer,
  ): number | undefined {
    try {
      this.library.C_DecryptInit(
        this.session,
        this.gcmMechanism(parameters),
        key.handle,
      );
    } catch (error) {
      throw new Pkcs11SettingError(
        'PKCS11_KEY_LABEL',
        `the key labelled "${key.label}" cannot decrypt with CKM_AES_GCM (${ckr(error)})`,
      );
    }
    try {
      return this.library.C_Decrypt(this.session, ciphertext, out).length;
    } catch {
      // SoftHSM answers a failed tag with CKR_GENERAL_ERROR, others with CKR_ENCRYPTED_DATA_INVALID.
      return undefined;
    }
  }

  /**
   * Whether any object on the token (of any class or type) carries `label`: a new sealing key is
   * not created under a label that already names something else.
   */
  hasObjectLabelled(label: string): boolean {
    this.library.C_FindObjectsInit(this.session, [
      { type: this.binding.CKA_LABEL, value: label },
    ]);
    try {
      return this.library.C_FindObjects(this.session, 1).length > 0;
    } finally {
      this.library.C_FindObjectsFinal(this.session);
    }
  }

  /**
   * The RSA private key labelled `label`, or `undefined` when there is none. Its public key object
   * is not needed: the private key object carries the modulus and public exponent.
   *
   * @throws Pkcs11SettingError when several RSA private keys share the label.
   */
  findRsaPrivateKey(
    label: string,
    variable = 'PKCS11_KEY_LABEL',
  ): TokenKey | undefined {
    const found = this.findObjects(
      this.binding.CKO_PRIVATE_KEY,
      this.binding.CKK_RSA,
      label,
    );
    if (found.length > 1) {
      throw new Pkcs11SettingError(
        variable,
        `several RSA private keys are labelled "${label}" on token "${this.tokenLabel}"; labels must be unique`,
      );
    }
    return found.length === 1 ? { handle: found[0], label } : undefined;
  }

  /** The RSA private key labelled `label`, or a problem naming `variable` when the token has none. */
  requireRsaPrivateKey(label: string, variable = 'PKCS11_KEY_LABEL'): TokenKey {
    const key = this.findRsaPrivateKey(label, variable);
    if (!key)
      throw new Pkcs11SettingError(
        variable,
        `no RSA private key labelled "${label}" on token "${this.tokenLabel}"`,
      );
    return key;
  }

  /**
   * A new RSA key pair on the token, both halves labelled `label` and persistent (CKA_TOKEN). The
   * private key is private, sensitive and never extractable, and may decrypt and nothing else (no
   * sign, unwrap, derive). The public key's usage flags are left to the token: tpm2-pkcs11 maps
   * CKA_ENCRYPT and CKA_SIGN to one TPM attribute (TPMA_OBJECT_SIGN_ENCRYPT), so asking for
   * CKA_ENCRYPT there would make the private key able to sign. Sealing encrypts in software from
   * the public numbers, and does not need the token to encrypt.
   *
   * @returns the private key (the one unsealing uses).
   */
  createRsaKeyPair(
    label: string,
    bits: (typeof RSA_NEW_KEY_BITS)[number],
    variable = 'PKCS11_KEY_LABEL',
  ): TokenKey {
    const b = this.binding;
    try {
      const { privateKey } = this.library.C_GenerateKeyPair(
        this.session,
        { mechanism: b.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [
          { type: b.CKA_CLASS, value: b.CKO_PUBLIC_KEY },
          { type: b.CKA_KEY_TYPE, value: b.CKK_RSA },
          { type: b.CKA_LABEL, value: label },
          { type: b.CKA_TOKEN, value: true },
          { type: b.CKA_MODIFIABLE, value: false },
          { type: b.CKA_MODULUS_BITS, value: bits },
          {
            type: b.CKA_PUBLIC_EXPONENT,
            value: Buffer.from([0x01, 0x00, 0x01]),
          },
        ],
        [
          { type: b.CKA_CLASS, value: b.CKO_PRIVATE_KEY },
          { type: b.CKA_KEY_TYPE, value: b.CKK_RSA },
          ...protectedKeyAttributes(b, label),
          { type: b.CKA_DECRYPT, value: true },
          { type: b.CKA_SIGN, value: false },
          { type: b.CKA_UNWRAP, value: false },
          { type: b.CKA_DERIVE, value: false },
        ],
      );
      return { handle: privateKey, label };
    } catch (error) {
      const hint =
        bits > 2048 ? `; a TPM without RSA-${bits} needs --rsa-bits 2048` : '';
      throw new Pkcs11SettingError(
        variable,
        `the token could not create a ${bits}-bit RSA key pair labelled "${label}" (${ckr(error)})${hint}`,
      );
    }
  }

  /**
   * The public numbers of the RSA private key `key` (CKA_MODULUS and CKA_PUBLIC_EXPONENT are public
   * attributes of a private key), or of the public key object of the same label when the private
   * key object does not carry the exponent.
   */
  rsaPublicNumbers(
    key: TokenKey,
    variable = 'PKCS11_KEY_LABEL',
  ): RsaPublicNumbers {
    const b = this.binding;
    const [modulus, exponent] = this.readAttributes(key.handle, [
      b.CKA_MODULUS,
      b.CKA_PUBLIC_EXPONENT,
    ]);
    if (modulus && exponent) return { modulus, publicExponent: exponent };
    const [publicKey] = this.findObjects(
      b.CKO_PUBLIC_KEY,
      b.CKK_RSA,
      key.label,
    );
    if (publicKey) {
      const [publicModulus, publicExponent] = this.readAttributes(publicKey, [
        b.CKA_MODULUS,
        b.CKA_PUBLIC_EXPONENT,
      ]);
      if (publicModulus && publicExponent)
        return { modulus: publicModulus, publicExponent };
    }
    throw new Pkcs11SettingError(
      variable,
      `the token does not report the public key of the RSA key labelled "${key.label}"`,
    );
  }

  /**
   * Refuses an RSA private key the sealed master key should not depend on: one that can leave the
   * token (extractable or not sensitive), or whose modulus is not 2048, 3072 or 4096 bits.
   */
  checkRsaSealingKey(key: TokenKey, variable = 'PKCS11_KEY_LABEL'): void {
    const b = this.binding;
    const label = key.label;
    const [extractable, sensitive] = this.readAttributes(key.handle, [
      b.CKA_EXTRACTABLE,
      b.CKA_SENSITIVE,
    ]);
    if (
      !extractable ||
      !sensitive ||
      readBool(extractable) ||
      !readBool(sensitive)
    ) {
      throw new Pkcs11SettingError(
        variable,
        `the RSA key labelled "${label}" can be extracted from the token (CKA_EXTRACTABLE or not CKA_SENSITIVE); seal under a key that cannot`,
      );
    }
    const bits = this.rsaPublicNumbers(key, variable).modulus.length * 8;
    if (!(RSA_SEALING_KEY_BITS as readonly number[]).includes(bits)) {
      throw new Pkcs11SettingError(
        variable,
        `the RSA key labelled "${label}" is ${bits} bits; a sealing key is ${RSA_SEALING_KEY_BITS.join(', ')} bits`,
      );
    }
  }

  /**
   * RSA-OAEP decryption on the token, written straight into `out`. RSA tokens want room for a
   * whole modulus (SoftHSM answers CKR_BUFFER_TOO_SMALL otherwise), so `out` is as long as the
   * ciphertext; the plaintext's length is what C_Decrypt reports (pkcs11js returns `out` cut to
   * it) and the bytes after it are left as they were, for the caller to wipe with `out`.
   *
   * @returns the plaintext length, or `undefined` when the token refused to open the ciphertext
   *   (another key, an altered ciphertext or label).
   * @throws MechanismRefusedError when the token refuses CKM_RSA_PKCS_OAEP with these parameters;
   *   Pkcs11SettingError when the key may not decrypt for another reason.
   */
  decryptRsaOaepInto(
    key: TokenKey,
    parameters: RsaOaepParameters,
    ciphertext: Buffer,
    out: Buffer,
  ): number | undefined {
    try {
      this.library.C_DecryptInit(
        this.session,
        this.oaepMechanism(parameters),
        key.handle,
      );
    } catch (error) {
      const code = ckr(error);
      const detail = `the key labelled "${key.label}" cannot decrypt with CKM_RSA_PKCS_OAEP, ${parameters.hash}${parameters.label.length > 0 ? ' and a label' : ''} (${code})`;
      if (MECHANISM_REFUSALS.has(code))
        throw new MechanismRefusedError('PKCS11_KEY_LABEL', detail, code);
      throw new Pkcs11SettingError('PKCS11_KEY_LABEL', detail);
    }
    try {
      return this.library.C_Decrypt(this.session, ciphertext, out).length;
    } catch {
      // SoftHSM answers a bad ciphertext with CKR_GENERAL_ERROR, tpm2-pkcs11 too (libtpms 0.9 says
      // TPM_RC_FAILURE), others with CKR_ENCRYPTED_DATA_INVALID.
      return undefined;
    }
  }

  get tokenLabel(): string {
    return this.settings.tokenLabel;
  }

  /** Logs out, closes the session and finalizes the library; never throws. */
  close(): void {
    tryCall(() => this.library.C_Logout(this.session));
    tryCall(() => this.library.C_CloseSession(this.session));
    closeQuietly(this.library, this.ownsInitialize);
  }

  private oaepMechanism(
    parameters: RsaOaepParameters,
  ): Pkcs11Binding.Mechanism {
    const b = this.binding;
    const sha256 = parameters.hash === 'SHA-256';
    const oaep: Pkcs11Binding.RsaOAEP = {
      type: b.CK_PARAMS_RSA_OAEP,
      hashAlg: sha256 ? b.CKM_SHA256 : b.CKM_SHA_1,
      mgf: sha256 ? b.CKG_MGF1_SHA256 : b.CKG_MGF1_SHA1,
      source: CKZ_DATA_SPECIFIED,
      // No label: pSourceData NULL and length 0, as SoftHSM2 demands.
      ...(parameters.label.length > 0 ? { sourceData: parameters.label } : {}),
    };
    return { mechanism: b.CKM_RSA_PKCS_OAEP, parameter: oaep };
  }

  private findObjects(
    objectClass: number,
    keyType: number,
    label: string,
  ): Handle[] {
    const b = this.binding;
    this.library.C_FindObjectsInit(this.session, [
      { type: b.CKA_CLASS, value: objectClass },
      { type: b.CKA_KEY_TYPE, value: keyType },
      { type: b.CKA_LABEL, value: label },
    ]);
    try {
      return this.library.C_FindObjects(this.session, 2);
    } finally {
      this.library.C_FindObjectsFinal(this.session);
    }
  }

  /** Attribute values, `undefined` for one the object does not have or will not reveal. */
  private readAttributes(
    handle: Handle,
    types: number[],
  ): (Buffer | undefined)[] {
    return types.map((type) => {
      try {
        const [attribute] = this.library.C_GetAttributeValue(
          this.session,
          handle,
          [{ type }],
        );
        const value = attribute.value as Buffer | undefined;
        return value && value.length > 0 ? value : undefined;
      } catch {
        return undefined;
      }
    });
  }

  private gcmMechanism(parameters: AesGcmParameters): Pkcs11Binding.Mechanism {
    const b = this.binding;
    // CK_GCM_PARAMS of PKCS#11 2.40 (with ulIvBits), the layout SoftHSM and current HSMs use.
    const gcm: Pkcs11Binding.GcmParams = {
      type: b.CK_PARAMS_GCM,
      iv: parameters.iv,
      ivBits: parameters.iv.length * 8,
      aad: parameters.aad,
      tagBits: GCM_TAG_BYTES * 8,
    };
    return { mechanism: b.CKM_AES_GCM, parameter: gcm };
  }
}

/** Opens the token, runs `use`, and always closes it (log out, close the session, finalize). */
export function withPkcs11Token<T>(
  settings: Pkcs11Settings,
  options: { readWrite: boolean },
  use: (token: Pkcs11Token) => T,
): T {
  const token = Pkcs11Token.open(settings, options);
  try {
    return use(token);
  } finally {
    token.close();
  }
}

/**
 * What every key this app creates on a token is: persistent, labelled, usable only after login,
 * sensitive, not extractable, and not modifiable afterwards.
 */
function protectedKeyAttributes(
  b: typeof Pkcs11Binding,
  label: string,
): Pkcs11Binding.Template {
  return [
    { type: b.CKA_LABEL, value: label },
    { type: b.CKA_TOKEN, value: true },
    { type: b.CKA_PRIVATE, value: true },
    { type: b.CKA_SENSITIVE, value: true },
    { type: b.CKA_EXTRACTABLE, value: false },
    { type: b.CKA_MODIFIABLE, value: false },
  ];
}

/** Loaded on first use: a deployment without an HSM never loads the native addon. */
function loadBinding(): typeof Pkcs11Binding {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy require, not an import: the native addon loads only when an HSM is configured
    return require('pkcs11js') as typeof Pkcs11Binding;
  } catch (error) {
    throw new Pkcs11SettingError(
      'PKCS11_MODULE',
      `the pkcs11js package cannot be loaded (${(error as Error).message.split('\n')[0]}); reinstall with npm ci`,
    );
  }
}

function findTokenSlot(
  binding: typeof Pkcs11Binding,
  library: Pkcs11Binding.PKCS11,
  label: string,
): Handle {
  const matches: Handle[] = [];
  const seen: string[] = [];
  for (const slot of library.C_GetSlotList(true)) {
    let tokenLabel: string;
    try {
      const info = library.C_GetTokenInfo(slot);
      // A blank token (SoftHSM keeps one free slot) has no label to match.
      if ((info.flags & binding.CKF_TOKEN_INITIALIZED) === 0) continue;
      tokenLabel = info.label.replace(/[ \0]+$/, '');
    } catch {
      continue;
    }
    seen.push(`"${tokenLabel}"`);
    if (tokenLabel === label) matches.push(slot);
  }
  if (matches.length === 0) {
    const present =
      seen.length > 0
        ? `tokens present: ${seen.join(', ')}`
        : 'no token present';
    throw new Pkcs11SettingError(
      'PKCS11_TOKEN_LABEL',
      `no token labelled "${label}" (${present})`,
    );
  }
  if (matches.length > 1)
    throw new Pkcs11SettingError(
      'PKCS11_TOKEN_LABEL',
      `${matches.length} tokens are labelled "${label}"; labels must be unique`,
    );
  return matches[0];
}

function login(
  binding: typeof Pkcs11Binding,
  library: Pkcs11Binding.PKCS11,
  session: Handle,
  settings: Pkcs11Settings,
): void {
  try {
    library.C_Login(session, binding.CKU_USER, settings.pin);
  } catch (error) {
    const code = ckr(error);
    switch (code) {
      case 'CKR_USER_ALREADY_LOGGED_IN':
        return;
      case 'CKR_PIN_INCORRECT':
      case 'CKR_PIN_INVALID':
      case 'CKR_PIN_LEN_RANGE':
        throw new Pkcs11SettingError(
          settings.pinVariable,
          `the token "${settings.tokenLabel}" refused the PIN (${code})`,
        );
      case 'CKR_PIN_LOCKED':
        throw new Pkcs11SettingError(
          settings.pinVariable,
          `the user PIN of token "${settings.tokenLabel}" is locked (too many wrong PINs)`,
        );
      case 'CKR_USER_PIN_NOT_INITIALIZED':
        throw new Pkcs11SettingError(
          settings.pinVariable,
          `token "${settings.tokenLabel}" has no user PIN yet`,
        );
      default:
        throw new Pkcs11SettingError(
          settings.pinVariable,
          `login to token "${settings.tokenLabel}" failed (${code})`,
        );
    }
  }
}

function closeQuietly(library: Pkcs11Binding.PKCS11, finalize: boolean): void {
  if (finalize) tryCall(() => library.C_Finalize());
  tryCall(() => library.close());
}

function tryCall(call: () => void): void {
  try {
    call();
  } catch {
    // Cleanup of a session that is going away anyway.
  }
}

/** A CK_ULONG attribute as the binding returns it: native width and byte order. */
function readUlong(value: Buffer): number {
  const littleEndian = endianness() === 'LE';
  if (value.length === 8)
    return Number(
      littleEndian ? value.readBigUInt64LE(0) : value.readBigUInt64BE(0),
    );
  if (value.length === 4)
    return littleEndian ? value.readUInt32LE(0) : value.readUInt32BE(0);
  return value.length > 0 ? value[0] : 0;
}

function readBool(value: Buffer): boolean {
  return value.length > 0 && value[0] !== 0;
}
