import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityMetadata, FindOptionsSelect, Repository } from 'typeorm';
import { columnName } from '../database/plain-sql';
import { BlindIndexes } from '../encrypted-column/blind-index';
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

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(UserDataKey)
    private readonly dataKeys: Repository<UserDataKey>,
    private readonly blindIndexes: BlindIndexes,
  ) {
    this.loginQuery = loginAccountQuery(users.metadata, dataKeys.metadata);
  }

  /**
   * The account and its wrapped keys in one round trip, for login (decrypts nothing), in plain
   * SQL (`database/plain-sql.ts`): beside argon2id, a login should cost nothing
   * (docs/benchmarks.md#targets).
   */
  async findLoginAccount(email: string): Promise<LoginAccount | null> {
    const [emailIndex] = this.blindIndexes.for(User, 'emailIndex', email);
    const rows = await this.users.query<Record<string, unknown>[]>(
      this.loginQuery,
      [emailIndex],
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
    const [emailIndex] = this.blindIndexes.for(User, 'emailIndex', email);
    return this.users.findOne({
      where: { emailIndex },
      select: withoutEmail(),
    });
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
    `WHERE u.${columnName(users, 'emailIndex')} = $1 ORDER BY k.${columnName(dataKeys, 'keyVersion')}`
  );
}
