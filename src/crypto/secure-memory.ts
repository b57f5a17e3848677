import sodium from 'sodium-native';

/** Overwrites key material in place (libsodium's sodium_memzero, which the compiler cannot elide). */
export function zeroBuffer(...buffers: (Buffer | undefined | null)[]): void {
  for (const buffer of buffers) if (buffer && buffer.byteLength > 0) sodium.sodium_memzero(buffer);
}
