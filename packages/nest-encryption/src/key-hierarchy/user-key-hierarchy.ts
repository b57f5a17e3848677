import { randomBytes } from 'node:crypto';
import {
  AeadAlgorithm,
  Argon2Params,
  CURRENT_PASSWORD_KDF_VERSION,
  CryptoError,
  DERIVED_KEY_BYTES,
  DataKeyWrapContext,
  OWASP_MINIMUM_ARGON2_PARAMS,
  PasswordKdfVersion,
  derivePasswordMasterKey,
  deriveRecoveryKek,
  generateDataKey,
  generateRecoveryCode,
  generateSalt,
  passwordIdempotencySecret,
  splitPasswordMasterKey,
  unwrapDataKey,
  verifiersMatch,
  wrapDataKey,
  zeroBuffer,
} from '../crypto';
import { Keyring } from '../key-vault/keyring';

/**
 * password ─argon2id→ master key, for `UserKeyHierarchy`'s `deriveMasterKey` option: the result
 * in locked memory, which the hierarchy zeroes.
 */
export type DeriveMasterKey = (
  password: string,
  salt: Buffer,
  params: Argon2Params,
) => Promise<Buffer>;

export interface UserKeyHierarchyOptions {
  /**
   * argon2's `secret`, 32 bytes (`deriveEncryptionSecrets`). Also keys recovery codes. Used, not
   * copied: its owner wipes it at shutdown.
   */
  pepper: Buffer;
  /** HMAC key over argon2's output (KDF version 2), 32 bytes; used, not copied. */
  argon2OutputKey: Buffer;
  /**
   * argon2id cost of new and upgraded passwords; each field is raised to OWASP's minimum
   * (m = 19 MiB, t = 2, p = 1), which is also the default.
   */
  argon2Params?: Partial<Omit<Argon2Params, 'version'>>;
  /**
   * Runs argon2id, e.g. through the app's own queue that bounds concurrent calls. Default:
   * `derivePasswordMasterKey` with `pepper` and `argon2OutputKey`, unbounded.
   */
  deriveMasterKey?: DeriveMasterKey;
}

/** What a password yields: the stored half (verifier, salt, cost and KDF version) and the KEK (never stored). */
export interface PasswordMaterial {
  authVerifier: Buffer;
  kdfSalt: Buffer;
  kdfParams: Argon2Params;
  /** In locked memory: the caller zeroes it. */
  kek: Buffer;
}

/**
 * `PasswordMaterial` plus the third branch of the same argon2id output, `password/idempotency`:
 * the secret that keys an idempotency record of the request that presented the password.
 */
export interface PasswordMaterialWithIdempotencySecret extends PasswordMaterial {
  /** In locked memory: the caller zeroes it. */
  idempotencySecret: Buffer;
}

/** What a right password unlocks, with the idempotency branch (both the caller's to zero). */
export interface VerifiedPasswordKeys {
  kek: Buffer;
  idempotencySecret: Buffer;
}

/** A new recovery code (show it once, never store it), its salt (stored) and its KEK (zero it). */
export interface RecoveryMaterial {
  recoveryCode: string;
  recoverySalt: Buffer;
  kek: Buffer;
}

/** One data key version as stored: wrapped by the password's KEK and by the recovery KEK. */
export interface WrappedDataKey {
  keyVersion: number;
  wrappedByPassword: Buffer;
  wrappedByRecovery: Buffer;
}

/** The stored half of a password, as `derivePasswordMaterial` returned it. */
export interface StoredPassword {
  authVerifier: Buffer;
  kdfSalt: Buffer;
  kdfParams: Argon2Params;
}

/** The owner whose keys are unwrapped: its id (bound into every wrap) and active key version. */
export interface KeyOwner {
  id: string;
  activeKeyVersion: number;
}

/**
 * A user's key hierarchy (README.md#key-hierarchy): derives password and recovery material,
 * verifies a password with exactly one argon2id call (of the account's own KDF version), wraps
 * and unwraps every data key version. Holds no state but the server secrets it was given; every
 * KEK and data key it returns is the caller's to zero.
 */
export class UserKeyHierarchy {
  /**
   * Cost and KDF version for new and upgraded passwords; stored per user, so raising either
   * upgrades the account at its next login (`needsUpgrade`).
   */
  readonly argon2Params: Readonly<
    Argon2Params & { version: PasswordKdfVersion }
  >;
  private readonly pepper: Buffer;
  private readonly deriveMasterKey: DeriveMasterKey;

  /** @throws Error naming the bad option (never its value) when a key is not 32 bytes. */
  constructor(options: UserKeyHierarchyOptions) {
    for (const name of ['pepper', 'argon2OutputKey'] as const) {
      const key = options[name];
      if (!Buffer.isBuffer(key) || key.length !== DERIVED_KEY_BYTES)
        throw new Error(
          `UserKeyHierarchy: ${name} must be a Buffer of ${DERIVED_KEY_BYTES} bytes`,
        );
    }
    const cost = options.argon2Params ?? {};
    this.argon2Params = Object.freeze({
      memoryKiB: Math.max(
        cost.memoryKiB ?? 0,
        OWASP_MINIMUM_ARGON2_PARAMS.memoryKiB,
      ),
      iterations: Math.max(
        cost.iterations ?? 0,
        OWASP_MINIMUM_ARGON2_PARAMS.iterations,
      ),
      parallelism: Math.max(
        cost.parallelism ?? 0,
        OWASP_MINIMUM_ARGON2_PARAMS.parallelism,
      ),
      version: CURRENT_PASSWORD_KDF_VERSION,
    });
    this.pepper = options.pepper;
    const secrets = {
      pepper: options.pepper,
      argon2OutputKey: options.argon2OutputKey,
    };
    this.deriveMasterKey =
      options.deriveMasterKey ??
      ((password, salt, params) =>
        derivePasswordMasterKey(password, salt, params, secrets));
  }

  /** One argon2id call with a fresh salt at the configured cost and the current KDF version. */
  async derivePasswordMaterial(password: string): Promise<PasswordMaterial> {
    const { material } = await this.deriveNewPassword(password, false);
    return material;
  }

  /**
   * `derivePasswordMaterial` that also returns the `password/idempotency` branch of the same
   * argon2id output (still one call): for a request whose answer an idempotency record keeps.
   */
  async derivePasswordMaterialWithIdempotencySecret(
    password: string,
  ): Promise<PasswordMaterialWithIdempotencySecret> {
    const { material, idempotencySecret } = await this.deriveNewPassword(
      password,
      true,
    );
    return { ...material, idempotencySecret: idempotencySecret! };
  }

  /**
   * One argon2id call with the user's own salt, cost and KDF version (1 or 2: a version-1
   * account is verified as it was made); the KEK when the password is right, `undefined`
   * otherwise (compared in constant time).
   */
  async verifyPassword(
    stored: StoredPassword,
    password: string,
  ): Promise<Buffer | undefined> {
    return (await this.verify(stored, password, false))?.kek;
  }

  /**
   * `verifyPassword` that also returns the `password/idempotency` branch of the same argon2id
   * output (still one call), only when the password is right.
   */
  async verifyPasswordWithIdempotencySecret(
    stored: StoredPassword,
    password: string,
  ): Promise<VerifiedPasswordKeys | undefined> {
    const verified = await this.verify(stored, password, true);
    return (
      verified && {
        kek: verified.kek,
        idempotencySecret: verified.idempotencySecret!,
      }
    );
  }

  private async deriveNewPassword(
    password: string,
    withIdempotencySecret: boolean,
  ): Promise<{ material: PasswordMaterial; idempotencySecret?: Buffer }> {
    const kdfSalt = generateSalt();
    const kdfParams = { ...this.argon2Params };
    const masterKey = await this.deriveMasterKey(password, kdfSalt, kdfParams);
    try {
      const { authVerifier, kek } = splitPasswordMasterKey(masterKey);
      return {
        material: { authVerifier, kdfSalt, kdfParams, kek },
        idempotencySecret: withIdempotencySecret
          ? passwordIdempotencySecret(masterKey)
          : undefined,
      };
    } finally {
      zeroBuffer(masterKey);
    }
  }

  private async verify(
    stored: StoredPassword,
    password: string,
    withIdempotencySecret: boolean,
  ): Promise<{ kek: Buffer; idempotencySecret?: Buffer } | undefined> {
    const masterKey = await this.deriveMasterKey(
      password,
      stored.kdfSalt,
      stored.kdfParams,
    );
    try {
      const { authVerifier, kek } = splitPasswordMasterKey(masterKey);
      if (!verifiersMatch(stored.authVerifier, authVerifier)) {
        zeroBuffer(kek);
        return undefined;
      }
      return {
        kek,
        idempotencySecret: withIdempotencySecret
          ? passwordIdempotencySecret(masterKey)
          : undefined,
      };
    } finally {
      zeroBuffer(masterKey);
    }
  }

  /**
   * The cost of `verifyPassword` for an account that does not exist, so that a login's timing
   * does not tell whether an email is registered.
   */
  async spendDummyVerification(password: string): Promise<void> {
    const masterKey = await this.deriveMasterKey(
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
      kek: deriveRecoveryKek(recoveryCode, recoverySalt, this.pepper),
    };
  }

  /** @throws InvalidCryptoInputError when the code is not shaped like a recovery code. */
  recoveryKek(recoveryCode: string, recoverySalt: Buffer): Buffer {
    return deriveRecoveryKek(recoveryCode, recoverySalt, this.pepper);
  }

  /** A new random data key (in locked memory: the caller zeroes it or hands it to a `Keyring`) wrapped by both KEKs. */
  newDataKey(
    userId: string,
    keyVersion: number,
    passwordKek: Buffer,
    recoveryKek: Buffer,
  ): { dataKey: Buffer; wrapped: WrappedDataKey } {
    const dataKey = generateDataKey();
    try {
      return {
        dataKey,
        wrapped: this.wrap(
          userId,
          keyVersion,
          dataKey,
          passwordKek,
          recoveryKek,
        ),
      };
    } catch (error) {
      zeroBuffer(dataKey);
      throw error;
    }
  }

  /** `dataKey` wrapped by each KEK, with the user and version bound into each wrap's AAD. */
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
   * Unwraps every stored version into a keyring (the caller zeroes it, or `KeyContext` does).
   * @returns undefined when a wrap does not open with `kek` (wrong recovery code, tampered row).
   */
  unwrapKeyring(
    owner: KeyOwner,
    dataKeys: readonly WrappedDataKey[],
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
            userId: owner.id,
            keyVersion: row.keyVersion,
            wrappedBy,
          }),
        );
      }
      return new Keyring(owner.id, keys, owner.activeKeyVersion);
    } catch (error) {
      zeroBuffer(...keys.values());
      if (error instanceof CryptoError) return undefined;
      throw error;
    }
  }
}
