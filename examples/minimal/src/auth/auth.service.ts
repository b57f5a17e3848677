import {
  ConflictException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import {
  Keyring,
  SessionKeyVault,
  UserKeyHierarchy,
} from '@vault-pii/nest-encryption';
import { zeroBuffer } from '@vault-pii/nest-encryption/crypto';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { UserDataKey } from '../users/user-data-key.entity';
import { User } from '../users/user.entity';
import { newVaultSession, sessionToken } from './session-token';

const FIRST_KEY_VERSION = 1;
const PG_UNIQUE_VIOLATION = '23505';

/**
 * Registration and login over the library's key hierarchy: each costs one argon2id call, and a
 * login stores the user's unwrapped keys in the session key vault, under a key half of which
 * only the client holds (in its token).
 */
@Injectable()
export class AuthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: UserKeyHierarchy,
    private readonly vault: SessionKeyVault,
  ) {}

  /** @returns the account's id and its recovery code, shown once and never stored. */
  async register(
    username: string,
    password: string,
  ): Promise<{ userId: string; recoveryCode: string }> {
    const passwordMaterial = await this.keys.derivePasswordMaterial(password);
    const recovery = this.keys.newRecoveryMaterial();
    const userId = randomUUID();
    const { dataKey, wrapped } = this.keys.newDataKey(
      userId,
      FIRST_KEY_VERSION,
      passwordMaterial.kek,
      recovery.kek,
    );
    zeroBuffer(passwordMaterial.kek, recovery.kek, dataKey);
    try {
      await this.dataSource.transaction(async (manager) => {
        await manager.insert(User, {
          id: userId,
          username,
          authVerifier: passwordMaterial.authVerifier,
          kdfSalt: passwordMaterial.kdfSalt,
          kdfParams: passwordMaterial.kdfParams,
          recoverySalt: recovery.recoverySalt,
          activeKeyVersion: FIRST_KEY_VERSION,
        });
        await manager.insert(UserDataKey, { userId, ...wrapped });
      });
    } catch (error) {
      if ((error as { code?: string }).code === PG_UNIQUE_VIOLATION)
        throw new ConflictException('this username is taken');
      throw error;
    }
    return { userId, recoveryCode: recovery.recoveryCode };
  }

  /**
   * One argon2id call whether or not the account exists, and one answer for both failures.
   * @returns a bearer token for the new session.
   */
  async login(username: string, password: string): Promise<string> {
    const user = await this.dataSource.getRepository(User).findOne({
      where: { username },
      relations: { dataKeys: true },
    });
    if (!user) {
      await this.keys.spendDummyVerification(password);
      throw new UnauthorizedException('wrong username or password');
    }
    const kek = await this.keys.verifyPassword(user, password);
    if (!kek) throw new UnauthorizedException('wrong username or password');
    let keyring: Keyring | undefined;
    try {
      keyring = this.keys.unwrapKeyring(
        user,
        user.dataKeys ?? [],
        kek,
        'password',
      );
    } finally {
      zeroBuffer(kek);
    }
    if (!keyring) throw new UnauthorizedException('wrong username or password');
    try {
      const session = newVaultSession(user.id);
      await this.vault.open(session, keyring);
      return sessionToken(session);
    } finally {
      keyring.zero();
    }
  }
}
