import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { ServerKeys } from '../config/server-keys';
import {
  AeadAlgorithm,
  DataKeyWrapContext,
  generateDataKey,
  unwrapDataKey,
  wrapDataKey,
  CryptoError,
  Argon2Params,
  CURRENT_PASSWORD_KDF_VERSION,
  generateSalt,
  OWASP_MINIMUM_ARGON2_PARAMS,
  PasswordKdfVersion,
  splitPasswordMasterKey,
  verifiersMatch,
  deriveRecoveryKek,
  generateRecoveryCode,
  zeroBuffer,
} from '@vault-pii/nest-encryption/crypto';
import { Keyring } from '@vault-pii/nest-encryption';
import type { UserDataKey } from '../users/user-data-key.entity';
import type { User } from '../users/user.entity';
import { PasswordKdf } from './kdf/password-kdf';

/** What a password yields: the stored half (verifier, salt, cost and KDF version) and the KEK (never stored). */
export interface PasswordMaterial {
  authVerifier: Buffer;
  kdfSalt: Buffer;
  kdfParams: Argon2Params;
  kek: Buffer;
}

export interface RecoveryMaterial {
  recoveryCode: string;
  recoverySalt: Buffer;
  kek: Buffer;
}

export interface WrappedDataKey {
  keyVersion: number;
  wrappedByPassword: Buffer;
  wrappedByRecovery: Buffer;
}

/**
 * The key hierarchy in docs/crypto.md#key-hierarchy applied to accounts: derives password and
 * recovery material, verifies a password with exactly one argon2id call (of the account's own KDF
 * version), wraps and unwraps every DEK version. Holds no state but the server keys; every KEK it
 * returns is the caller's to zero.
 */
@Injectable()
export class AccountKeysService {
  /**
   * Cost and KDF version for new and upgraded passwords; stored per user, so raising either
   * upgrades the account at its next login.
   */
  readonly argon2Params: Readonly<
    Argon2Params & { version: PasswordKdfVersion }
  >;

  constructor(
    private readonly serverKeys: ServerKeys,
    config: AppConfig,
    private readonly kdf: PasswordKdf,
  ) {
    this.argon2Params = Object.freeze({
      memoryKiB: Math.max(
        config.argon2MemoryKiB,
        OWASP_MINIMUM_ARGON2_PARAMS.memoryKiB,
      ),
      iterations: Math.max(
        config.argon2Iterations,
        OWASP_MINIMUM_ARGON2_PARAMS.iterations,
      ),
      parallelism: Math.max(
        config.argon2Parallelism,
        OWASP_MINIMUM_ARGON2_PARAMS.parallelism,
      ),
      version: CURRENT_PASSWORD_KDF_VERSION,
    });
  }

  /** One argon2id call with a fresh salt at the configured cost and the current KDF version. */
  async derivePasswordMaterial(password: string): Promise<PasswordMaterial> {
    const kdfSalt = generateSalt();
    const kdfParams = { ...this.argon2Params };
    const masterKey = await this.kdf.deriveMasterKey(
      password,
      kdfSalt,
      kdfParams,
    );
    try {
      const { authVerifier, kek } = splitPasswordMasterKey(masterKey);
      return { authVerifier, kdfSalt, kdfParams, kek };
    } finally {
      zeroBuffer(masterKey);
    }
  }

  /**
   * One argon2id call with the user's own salt, cost and KDF version (1 or 2: a version-1
   * account is verified as it was made); the KEK when the password is right, `undefined`
   * otherwise (compared in constant time).
   */
  async verifyPassword(
    user: Pick<User, 'authVerifier' | 'kdfSalt' | 'kdfParams'>,
    password: string,
  ): Promise<Buffer | undefined> {
    const masterKey = await this.kdf.deriveMasterKey(
      password,
      user.kdfSalt,
      user.kdfParams,
    );
    try {
      const { authVerifier, kek } = splitPasswordMasterKey(masterKey);
      if (verifiersMatch(user.authVerifier, authVerifier)) return kek;
      zeroBuffer(kek);
      return undefined;
    } finally {
      zeroBuffer(masterKey);
    }
  }

  /**
   * Same cost as `verifyPassword` for an account that does not exist
   * (docs/security.md#unknown-emails).
   */
  async spendDummyVerification(password: string): Promise<void> {
    const masterKey = await this.kdf.deriveMasterKey(
      password,
      randomBytes(16),
      this.argon2Params,
    );
    zeroBuffer(masterKey);
  }

  /**
   * True when the stored cost is below the configured one, or the stored KDF version below the
   * current one (version 1, an absent field): re-derive at this login.
   */
  needsUpgrade(params: Argon2Params): boolean {
    const wanted = this.argon2Params;
    return (
      (params.version ?? 1) < wanted.version ||
      params.memoryKiB < wanted.memoryKiB ||
      params.iterations < wanted.iterations ||
      params.parallelism < wanted.parallelism
    );
  }

  newRecoveryMaterial(): RecoveryMaterial {
    const recoveryCode = generateRecoveryCode();
    const recoverySalt = generateSalt();
    return {
      recoveryCode,
      recoverySalt,
      kek: deriveRecoveryKek(
        recoveryCode,
        recoverySalt,
        this.serverKeys.pepper,
      ),
    };
  }

  /** @throws InvalidCryptoInputError when the code is not shaped like a recovery code. */
  recoveryKek(recoveryCode: string, recoverySalt: Buffer): Buffer {
    return deriveRecoveryKek(
      recoveryCode,
      recoverySalt,
      this.serverKeys.pepper,
    );
  }

  /** A new random DEK wrapped by both KEKs. */
  newDataKey(
    userId: string,
    keyVersion: number,
    passwordKek: Buffer,
    recoveryKek: Buffer,
  ): { dataKey: Buffer; wrapped: WrappedDataKey } {
    const dataKey = generateDataKey();
    return {
      dataKey,
      wrapped: this.wrap(userId, keyVersion, dataKey, passwordKek, recoveryKek),
    };
  }

  wrap(
    userId: string,
    keyVersion: number,
    dataKey: Buffer,
    passwordKek: Buffer,
    recoveryKek: Buffer,
  ): WrappedDataKey {
    return {
      keyVersion,
      wrappedByPassword: wrapDataKey(
        dataKey,
        passwordKek,
        { userId, keyVersion, wrappedBy: 'password' },
        AeadAlgorithm.XChaCha20Poly1305,
      ),
      wrappedByRecovery: wrapDataKey(
        dataKey,
        recoveryKek,
        { userId, keyVersion, wrappedBy: 'recovery' },
        AeadAlgorithm.XChaCha20Poly1305,
      ),
    };
  }

  /**
   * Unwraps every stored version into a keyring.
   * @returns undefined when a wrap does not open with `kek` (wrong recovery code, tampered row).
   */
  unwrapKeyring(
    user: Pick<User, 'id' | 'activeKeyVersion'>,
    dataKeys: readonly Pick<
      UserDataKey,
      'keyVersion' | 'wrappedByPassword' | 'wrappedByRecovery'
    >[],
    kek: Buffer,
    wrappedBy: DataKeyWrapContext['wrappedBy'],
  ): Keyring | undefined {
    const keys = new Map<number, Buffer>();
    try {
      for (const row of dataKeys) {
        const wrapped =
          wrappedBy === 'password'
            ? row.wrappedByPassword
            : row.wrappedByRecovery;
        keys.set(
          row.keyVersion,
          unwrapDataKey(wrapped, kek, {
            userId: user.id,
            keyVersion: row.keyVersion,
            wrappedBy,
          }),
        );
      }
      return new Keyring(user.id, keys, user.activeKeyVersion);
    } catch (error) {
      zeroBuffer(...keys.values());
      if (error instanceof CryptoError) return undefined;
      throw error;
    }
  }
}
