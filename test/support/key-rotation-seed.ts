import { DataSource } from 'typeorm';
import { AccountKeysService } from '../../src/auth/account-keys.service';
import { Contact } from '../../src/contacts/contact.entity';
import { Keyring } from '@vault-pii/nest-encryption';
import { withUserKeys } from '@vault-pii/nest-encryption/testing';
import { UserDataKey } from '../../src/users/user-data-key.entity';
import { User } from '../../src/users/user.entity';
import type { TestApp } from './test-app';
import { waitUntil } from './wait-until';

/** The n-th seeded contact's fields (deterministic, so a test can check any of them). */
export function seededContact(n: number): {
  fullName: string;
  email: string;
  phone: string;
  address: string;
  notes: string;
} {
  return {
    fullName: `Seeded Contact ${n}`,
    email: `seeded.${n}@example.org`,
    phone: `+1 555 ${String(n).padStart(7, '0')}`,
    address: `${n} Rotation Street, Keyville`,
    notes: `note ${n}`,
  };
}

/**
 * The user's keyring as login would unwrap it from the password, at this moment: every version
 * the account holds, its active version active. A test keeps it to write as a request that
 * unlocked its keys then would (the caller owns it: `KeyContext.runWithKeyring` zeroes it).
 */
export async function unlockKeyring(
  app: Pick<TestApp, 'app' | 'dataSource'>,
  userId: string,
  password: string,
): Promise<Keyring> {
  const dataSource: DataSource = app.dataSource;
  const keys = app.app.get(AccountKeysService);
  const user = await dataSource.getRepository(User).findOneOrFail({
    where: { id: userId },
    select: {
      id: true,
      authVerifier: true,
      kdfSalt: true,
      kdfParams: true,
      activeKeyVersion: true,
    },
  });
  const kek = await keys.verifyPassword(user, password);
  if (!kek) throw new Error('unlockKeyring: wrong password');
  const dataKeys = await dataSource
    .getRepository(UserDataKey)
    .findBy({ userId });
  const keyring = keys.unwrapKeyring(user, dataKeys, kek, 'password');
  kek.fill(0);
  if (!keyring) throw new Error('unlockKeyring: keys did not unwrap');
  return keyring;
}

/**
 * Inserts `count` contacts for a user straight through the app's DataSource, encrypted under the
 * user's keys (unwrapped with the password, as login does): thousands in seconds, where the API
 * would take minutes. 5 encrypted values per contact.
 */
export async function seedContacts(
  app: Pick<TestApp, 'app' | 'dataSource'>,
  userId: string,
  password: string,
  count: number,
): Promise<void> {
  const dataSource: DataSource = app.dataSource;
  const keyring = await unlockKeyring(app, userId, password);
  try {
    await withUserKeys(keyring, async () => {
      for (let start = 0; start < count; start += 500) {
        const batch: Contact[] = [];
        for (let n = start; n < Math.min(count, start + 500); n++)
          batch.push(
            dataSource
              .getRepository(Contact)
              .create({ ownerId: userId, ...seededContact(n) }),
          );
        await dataSource.transaction((manager) =>
          manager.insert(Contact, batch),
        );
      }
    });
  } finally {
    keyring.zero();
  }
}

/** Whether the user has a rotation whose job has not yet destroyed the old key version. */
export async function rotationPending(
  app: Pick<TestApp, 'dataSource'>,
  userId: string,
): Promise<boolean> {
  const rows = await app.dataSource.query<unknown[]>(
    'SELECT 1 FROM key_rotations WHERE user_id = $1',
    [userId],
  );
  return rows.length > 0;
}

/** Until the user's rotation job has destroyed the old key version (its `key_rotations` row goes with it). */
export function waitForRotation(
  app: Pick<TestApp, 'dataSource'>,
  userId: string,
): Promise<void> {
  return waitUntil(
    'the rotation finished',
    async () => !(await rotationPending(app, userId)),
    { timeoutMs: 30_000, intervalMs: 50 },
  );
}
