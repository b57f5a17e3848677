import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsSelect, Repository } from 'typeorm';
import { blindIndexesFor } from '../encrypted-column/blind-index';
import { UserDataKey } from './user-data-key.entity';
import { User } from './user.entity';

/** Account lookups that need no keys: by id, and by login email through its server-keyed index. */
@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(UserDataKey) private readonly dataKeys: Repository<UserDataKey>,
  ) {}

  /** Finds the account without decrypting anything: the email column is never read here. */
  findByEmail(email: string): Promise<User | null> {
    const [emailIndex] = blindIndexesFor(User, 'emailIndex', email);
    return this.users.findOne({ where: { emailIndex }, select: withoutEmail() });
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOne({ where: { id }, select: withoutEmail() });
  }

  /** Reads the account including the (encrypted) email: needs the user's keyring in context. */
  findByIdWithEmail(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  dataKeysOf(userId: string): Promise<UserDataKey[]> {
    return this.dataKeys.find({ where: { userId }, order: { keyVersion: 'ASC' } });
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
