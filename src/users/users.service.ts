import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityMetadata, FindOptionsSelect, In, Repository } from 'typeorm';
import { columnName, PG_UNIQUE_VIOLATION } from '../database/plain-sql';
import { BlindIndexes } from '@vault-pii/nest-encryption';
import { UserDataKey } from './user-data-key.entity';
import { User } from './user.entity';

/** What a login reads: the account's KDF inputs and verifier, and every wrapped DEK version. */
export type LoginAccount = Pick<User, (typeof LOGIN_USER_FIELDS)[number]> & {
  dataKeys: Pick<UserDataKey, (typeof LOGIN_KEY_FIELDS)[number]>[];
};

const LOGIN_USER_FIELDS = [
  'id',
  'authVerifier',
  'kdfSalt',
  'kdfParams',
  'recoverySalt',
  'activeKeyVersion',
  'version',
  'emailIndex',
] as const;
const LOGIN_KEY_FIELDS = [
  'keyVersion',
  'wrappedByPassword',
  'wrappedByRecovery',
] as const;

/** Account lookups that need no keys: by id, and by login email through its server-keyed index. */
@Injectable()
export class UsersService {
  private readonly loginQuery: string;
  private readonly reindexQuery: string;

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(UserDataKey)
    private readonly dataKeys: Repository<UserDataKey>,
    private readonly blindIndexes: BlindIndexes,
  ) {
    this.loginQuery = loginAccountQuery(users.metadata, dataKeys.metadata);
    const [table, id, emailIndex] = [
      users.metadata.tableName,
      columnName(users.metadata, 'id'),
      columnName(users.metadata, 'emailIndex'),
    ];
    this.reindexQuery = `UPDATE "${table}" SET ${emailIndex} = $1 WHERE ${id} = $2 AND ${emailIndex} = $3`;
  }

  /**
   * The account and its wrapped keys in one round trip, for login (decrypts nothing), in plain
   * SQL (`database/plain-sql.ts`): beside argon2id, a login should cost nothing
   * (docs/benchmarks.md#targets).
   */
  async findLoginAccount(email: string): Promise<LoginAccount | null> {
    // The email's index, and its legacy form's when that differs (crypto/email-address.ts).
    const rows = await this.users.query<Record<string, unknown>[]>(
      this.loginQuery,
      [this.blindIndexes.for(User, 'emailIndex', email)],
    );
    if (rows.length === 0) return null;
    const account = Object.fromEntries(
      LOGIN_USER_FIELDS.map((field) => [field, rows[0][field]]),
    ) as Omit<LoginAccount, 'dataKeys'>;
    const dataKeys = rows
      .filter((row) => row['key.keyVersion'] !== null)
      .map(
        (row) =>
          Object.fromEntries(
            LOGIN_KEY_FIELDS.map((field) => [field, row[`key.${field}`]]),
          ) as LoginAccount['dataKeys'][number],
      );
    return { ...account, dataKeys };
  }

  /** Finds the account without decrypting anything: the email column is never read here. */
  findByEmail(email: string): Promise<User | null> {
    return this.users.findOne({
      where: {
        emailIndex: In(this.blindIndexes.for(User, 'emailIndex', email)),
      },
      select: withoutEmail(),
    });
  }

  /**
   * An account found through its email's legacy index (written before issue 15's normalisation)
   * gets the current one, so that the legacy form can one day be dropped. Only the index changes
   * (the stored email, under the user's key, normalises to the same current form); a row changed
   * meanwhile is left alone, and so is the legacy index when another account already holds the
   * current one (then the legacy lookup keeps finding this account).
   */
  async adoptCurrentEmailIndex(
    account: Pick<User, 'id' | 'emailIndex'>,
    email: string,
  ): Promise<void> {
    const current = this.blindIndexes.forWriting(User, 'emailIndex', email);
    if (!account.emailIndex || account.emailIndex.equals(current)) return;
    try {
      await this.users.query(this.reindexQuery, [
        current,
        account.id,
        account.emailIndex,
      ]);
    } catch (error) {
      if ((error as { code?: string }).code !== PG_UNIQUE_VIOLATION)
        throw error;
    }
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOne({ where: { id }, select: withoutEmail() });
  }

  /** Reads the account including the (encrypted) email: needs the user's keyring in context. */
  findByIdWithEmail(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  /** Deletes the account; every row that references it goes too (foreign keys cascade). */
  async delete(id: string): Promise<void> {
    await this.users.delete({ id });
  }

  dataKeysOf(userId: string): Promise<UserDataKey[]> {
    return this.dataKeys.find({
      where: { userId },
      order: { keyVersion: 'ASC' },
    });
  }
}

/** Every column but `email`, so that lookups before login decrypt nothing (there are no keys yet). */
function withoutEmail(): FindOptionsSelect<User> {
  return {
    id: true,
    emailIndex: true,
    authVerifier: true,
    kdfSalt: true,
    kdfParams: true,
    recoverySalt: true,
    activeKeyVersion: true,
    version: true,
    createdAt: true,
    updatedAt: true,
  };
}

/** `SELECT` of `LOGIN_USER_FIELDS` and `LOGIN_KEY_FIELDS` (aliased `key.<field>`) by email index. */
function loginAccountQuery(
  users: EntityMetadata,
  dataKeys: EntityMetadata,
): string {
  const select = [
    ...LOGIN_USER_FIELDS.map(
      (field) => `u.${columnName(users, field)} AS "${field}"`,
    ),
    ...LOGIN_KEY_FIELDS.map(
      (field) => `k.${columnName(dataKeys, field)} AS "key.${field}"`,
    ),
  ];
  return (
    `SELECT ${select.join(', ')} FROM "${users.tableName}" u ` +
    `LEFT JOIN "${dataKeys.tableName}" k ON k.${columnName(dataKeys, 'userId')} = u.${columnName(users, 'id')} ` +
    `WHERE u.${columnName(users, 'emailIndex')} = ANY($1) ORDER BY k.${columnName(dataKeys, 'keyVersion')}`
  );
}
