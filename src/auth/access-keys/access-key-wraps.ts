import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { Keyring } from '@vault-pii/nest-encryption';
import {
  AccessKeyMaterial,
  CryptoError,
  generateAccessKeySecret,
  openAccessKeyPublicKey,
  sealAccessKeyPublicKey,
  sealDataKeyForAccessKey,
} from '@vault-pii/nest-encryption/crypto';
import { ServerKeys } from '../../config/server-keys';
import { AccessKeyDataKey } from './access-key.entity';

/** A new key's stored half and its secret (shown once). */
export interface NewAccessKeyMaterial {
  id: string;
  secret: string;
  lookupHash: Buffer;
  sealedPublicKey: Buffer;
  publicKey: Buffer;
}

/** Live keys to wrap a new data key for: unexpired, locked against a revocation meanwhile. */
const LIVE_KEYS_OF_USER = `
  SELECT id, sealed_public_key FROM access_keys
   WHERE user_id = $1 AND expires_at > now()
   ORDER BY id
   FOR KEY SHARE`;

/** The data key versions the user still has (the rotation job deletes a retired one). */
const EXISTING_VERSIONS_OF_USER = `
  SELECT key_version FROM user_data_keys WHERE user_id = $1 FOR KEY SHARE`;

/**
 * docs/crypto.md#access-keys: the data key wraps of access keys, made with the public key only —
 * at creation for every version the creating session holds, and at a key rotation for the new
 * version, for every live key, without any key's secret.
 */
@Injectable()
export class AccessKeyWraps {
  private readonly logger = new Logger(AccessKeyWraps.name);

  constructor(private readonly serverKeys: ServerKeys) {}

  /** A new secret, its id, lookup and sealed public key (nothing stored yet). */
  newKey(userId: string): NewAccessKeyMaterial {
    const secret = generateAccessKeySecret();
    const material = AccessKeyMaterial.derive(
      secret,
      this.serverKeys.accessKeySecret,
    )!;
    try {
      const id = randomUUID();
      return {
        id,
        secret,
        lookupHash: material.lookup,
        publicKey: material.publicKey,
        sealedPublicKey: sealAccessKeyPublicKey(
          material.publicKey,
          this.serverKeys.accessKeySecret,
          { userId, accessKeyId: id },
        ),
      };
    } finally {
      material.zero();
    }
  }

  /**
   * Stores a wrap of every version `keyring` holds that still exists for a new key (in the
   * caller's transaction, which holds the user's row, so no rotation destroys one meanwhile).
   */
  async wrapKeyring(
    manager: EntityManager,
    key: { id: string; userId: string; publicKey: Buffer },
    keyring: Keyring,
  ): Promise<void> {
    // A session that unlocked its keys while a rotation ran holds the retired version until its
    // vault entry is re-stored, after the rotation destroyed that version: no wrap of it (its row
    // is gone, and the foreign key would refuse the insert).
    const existing = await manager.query<{ key_version: number }[]>(
      EXISTING_VERSIONS_OF_USER,
      [key.userId],
    );
    const versions = new Set(existing.map((row) => row.key_version));
    const rows = keyring.versions
      .filter((keyVersion) => versions.has(keyVersion))
      .map((keyVersion) => wrapRow(key, keyVersion, keyring.key(keyVersion)!));
    await manager.insert(AccessKeyDataKey, rows);
  }

  /**
   * Wraps a new data key version for every live access key of the user (a key rotation, in its
   * transaction, after the version's own row is inserted). A key whose stored public key does not
   * open (altered in the database: sealed for another key, or not by this server) is revoked
   * rather than sealed to: it could never open the new version, and a rotation must not be
   * blockable by one bad row.
   * @returns the keys it reached and the keys it revoked.
   */
  async wrapForLiveKeys(
    manager: EntityManager,
    userId: string,
    keyVersion: number,
    dataKey: Buffer,
  ): Promise<{ wrapped: number; revoked: string[] }> {
    const keys = await manager.query<
      { id: string; sealed_public_key: Buffer }[]
    >(LIVE_KEYS_OF_USER, [userId]);
    const rows: ReturnType<typeof wrapRow>[] = [];
    const revoked: string[] = [];
    for (const key of keys) {
      let publicKey: Buffer;
      try {
        publicKey = openAccessKeyPublicKey(
          key.sealed_public_key,
          this.serverKeys.accessKeySecret,
          { userId, accessKeyId: key.id },
        );
      } catch (error) {
        if (!(error instanceof CryptoError)) throw error;
        revoked.push(key.id);
        continue;
      }
      rows.push(
        wrapRow({ id: key.id, userId, publicKey }, keyVersion, dataKey),
      );
    }
    if (revoked.length > 0) {
      await manager.query('DELETE FROM access_keys WHERE id = ANY($1)', [
        revoked,
      ]);
      this.logger.error(
        { accessKeyIds: revoked, err: { type: 'AuthenticationFailedError' } },
        'access key public key did not open: the key is revoked',
      );
    }
    if (rows.length > 0) await manager.insert(AccessKeyDataKey, rows);
    return { wrapped: rows.length, revoked };
  }

  /**
   * Deletes every access key of the user, and with them their wraps (recovery: whoever recovered
   * the account re-issues the keys they want). In `manager`'s transaction when given.
   * @returns how many there were.
   */
  async revokeAllOf(
    manager: EntityManager | DataSource,
    userId: string,
  ): Promise<number> {
    const [, deleted] = await manager.query<[unknown, number]>(
      'DELETE FROM access_keys WHERE user_id = $1',
      [userId],
    );
    return deleted ?? 0;
  }
}

/** The stored wrap of `dataKey` (version `keyVersion`) for one access key, context bound inside. */
function wrapRow(
  key: { id: string; userId: string; publicKey: Buffer },
  keyVersion: number,
  dataKey: Buffer,
): Pick<
  AccessKeyDataKey,
  'accessKeyId' | 'userId' | 'keyVersion' | 'sealedDataKey'
> {
  return {
    accessKeyId: key.id,
    userId: key.userId,
    keyVersion,
    sealedDataKey: sealDataKeyForAccessKey(dataKey, key.publicKey, {
      userId: key.userId,
      accessKeyId: key.id,
      keyVersion,
    }),
  };
}
