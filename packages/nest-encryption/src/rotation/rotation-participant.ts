import type { EntityManager } from 'typeorm';
import type { Keyring } from '../key-vault/keyring';

/**
 * Data a key rotation re-encrypts besides the `@EncryptedColumn`s (docs/rotation.md#participants):
 * files, objects in a bucket, anything sealed under an owner's data key whose version can be read
 * without decrypting. The runner asks for the items left after the columns, re-encrypts them one
 * at a time, and asks again, inside the transaction that destroys the retired keys, that none is
 * left.
 */
export interface RotationParticipant {
  /** For logs. */
  readonly name: string;
  /**
   * Ids of the owner's items sealed under a version other than `toVersion`. With a `manager`
   * (the key-destroying transaction, holding locks), query on its connection rather than waiting
   * for a pooled one.
   */
  pendingUnder(
    ownerId: string,
    toVersion: number,
    manager?: EntityManager,
  ): Promise<string[]>;
  /**
   * Re-encrypts one item under `keyring`'s active version (decrypting with whichever version it
   * names); the keyring is the runner's, not to be kept or zeroed. @returns false when the item
   * is gone.
   */
  reencrypt(ownerId: string, id: string, keyring: Keyring): Promise<boolean>;
}
