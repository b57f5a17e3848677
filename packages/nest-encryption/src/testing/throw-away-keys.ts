import { randomFillSync } from 'node:crypto';
import { AEAD_KEY_BYTES, secureAlloc, zeroBuffer } from '../crypto';

/**
 * Random server secrets for one test, in locked memory: what an app derives from its master key
 * in production, made up so that no test ever holds a real one.
 */
export interface ThrowAwayKeys {
  /** `KeyVaultModule`'s `vaultKey`. */
  readonly vaultKey: Buffer;
  /** `EncryptedColumnsModule`'s `serverBlindIndexKey`. */
  readonly serverBlindIndexKey: Buffer;
  /** A password pepper, for apps that hash passwords with one. */
  readonly pepper: Buffer;
  /** A key for argon2's output, for apps that key it. */
  readonly argon2OutputKey: Buffer;
  /** Whether `zero()` has run (the testing module's `close()` runs it). */
  readonly isZeroed: boolean;
  /** Wipes and releases every key; they must not be used afterwards. */
  zero(): void;
}

/** Four fresh 32-byte keys in secure memory (`zero()` wipes them). */
export function throwAwayKeys(): ThrowAwayKeys {
  const fresh = () => randomFillSync(secureAlloc(AEAD_KEY_BYTES));
  const keys = {
    vaultKey: fresh(),
    serverBlindIndexKey: fresh(),
    pepper: fresh(),
    argon2OutputKey: fresh(),
  };
  let zeroed = false;
  return {
    ...keys,
    get isZeroed() {
      return zeroed;
    },
    zero() {
      if (zeroed) return;
      zeroed = true;
      zeroBuffer(...Object.values(keys));
    },
  };
}
