/** Base of every error from `src/crypto`. Messages never contain key material or plaintext. */
export class CryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The envelope is shorter than its header, nonce and tag require. */
export class TruncatedEnvelopeError extends CryptoError {}

/** The envelope names a format version or algorithm this build does not know. */
export class UnsupportedEnvelopeError extends CryptoError {}

/** The authentication tag did not verify: wrong key, wrong AAD, or altered bytes. */
export class AuthenticationFailedError extends CryptoError {
  constructor() {
    super(
      'authentication failed: the ciphertext, its header or its associated data were altered, or the key is wrong',
    );
  }
}

/** The envelope was made with a key version the caller does not hold. */
export class UnknownKeyVersionError extends CryptoError {
  constructor(readonly keyVersion: number) {
    super(`no key for key version ${keyVersion}`);
  }
}

/** Input that cannot be a valid argument (wrong key length, bad recovery code…). */
export class InvalidCryptoInputError extends CryptoError {}
