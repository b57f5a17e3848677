import sodium from 'sodium-native';
import { AEAD_KEY_BYTES, AeadAlgorithm, openSecret, seal } from './aead';
import { secureAlloc } from './secure-memory';

/** What a wrapped DEK is bound to: unwrapping it for another user, version or wrap fails. */
export interface DataKeyWrapContext {
  userId: string;
  keyVersion: number;
  /** Which key wraps it: the password-derived KEK or the recovery code's KEK. */
  wrappedBy: 'password' | 'recovery';
}

/** A fresh random 256-bit data encryption key, in locked memory (release with `zeroBuffer`). */
export function generateDataKey(): Buffer {
  const key = secureAlloc(AEAD_KEY_BYTES);
  sodium.randombytes_buf(key);
  return key;
}

export function wrapDataKey(
  dataKey: Buffer,
  kek: Buffer,
  context: DataKeyWrapContext,
  algorithm: AeadAlgorithm = AeadAlgorithm.XChaCha20Poly1305,
): Buffer {
  return seal(dataKey, kek, {
    algorithm,
    keyVersion: context.keyVersion,
    aad: wrapAad(context),
  });
}

/**
 * The DEK, in locked memory (release with `zeroBuffer`).
 * @throws AuthenticationFailedError for a wrong KEK or a wrap made for another context.
 */
export function unwrapDataKey(
  wrapped: Buffer,
  kek: Buffer,
  context: DataKeyWrapContext,
): Buffer {
  return openSecret(wrapped, () => kek, wrapAad(context));
}

function wrapAad({
  userId,
  keyVersion,
  wrappedBy,
}: DataKeyWrapContext): Buffer {
  return Buffer.from(
    `dek-wrap\u0000${wrappedBy}\u0000${userId}\u0000${keyVersion}`,
    'utf8',
  );
}
