import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, In, Repository } from 'typeorm';
import { LimitReachedError } from '../common/problem/limit-reached.error';
import { NotFoundError } from '../common/problem/not-found.error';
import { AppConfig } from '../config/app-config';
import { advisoryLockKey } from '../database/advisory-lock-key';
import { BlindIndexes } from '../encrypted-column/blind-index';
import { Contact } from './contact.entity';
import {
  decodePageCursor,
  encodePageCursor,
} from '../common/pagination/page-cursor';
import { DEFAULT_PAGE_SIZE } from '../common/pagination/page-query.dto';
import {
  ContactDto,
  ContactPageDto,
  CreateContactDto,
  ListContactsQueryDto,
  UpdateContactDto,
} from './dto/contact.dto';

/** Contacts read per query when a document lists them all. */
const CONTACTS_PER_PAGE = 200;
const CONTACTS_LOCK_NAMESPACE = 'contacts.create';
const EDITABLE = ['fullName', 'email', 'phone', 'address', 'notes'] as const;

/** The caller's address book. Every query is scoped by owner: another user's id is simply not found. */
@Injectable()
export class ContactsService {
  constructor(
    @InjectRepository(Contact) private readonly contacts: Repository<Contact>,
    private readonly blindIndexes: BlindIndexes,
    private readonly config: AppConfig,
  ) {}

  /** @throws LimitReachedError when the owner already holds `CONTACTS_PER_USER_LIMIT` contacts. */
  async create(ownerId: string, fields: CreateContactDto): Promise<ContactDto> {
    const max = this.config.limits.contactsPerUser;
    const saved = await this.contacts.manager.transaction(async (manager) => {
      // One create per user at a time, across instances: at READ COMMITTED two creates at the
      // limit would each count max − 1 (neither sees the other's uncommitted row) and both insert.
      // The lock is the owner's only, held to the commit; other users' creates do not wait.
      await manager.query('SELECT pg_advisory_xact_lock($1::bigint)', [
        advisoryLockKey(CONTACTS_LOCK_NAMESPACE, ownerId),
      ]);
      if ((await manager.countBy(Contact, { ownerId })) >= max)
        throw new LimitReachedError(
          'CONTACTS_PER_USER_LIMIT',
          max,
          'You hold as many contacts as allowed; delete one to add another.',
        );
      return manager.save(
        manager.create(Contact, {
          ownerId,
          fullName: fields.fullName,
          email: fields.email ?? null,
          phone: fields.phone ?? null,
          address: fields.address ?? null,
          notes: fields.notes ?? null,
        }),
      );
    });
    return toDto(saved);
  }

  async get(ownerId: string, id: string): Promise<ContactDto> {
    return toDto(await this.find(ownerId, id));
  }

  async update(
    ownerId: string,
    id: string,
    fields: UpdateContactDto,
  ): Promise<ContactDto> {
    const contact = await this.find(ownerId, id);
    for (const field of EDITABLE) {
      if (fields[field] === undefined) continue;
      if (field === 'fullName') contact.fullName = fields.fullName as string;
      else contact[field] = fields[field] ?? null;
    }
    return toDto(await this.contacts.save(contact));
  }

  async delete(ownerId: string, id: string): Promise<void> {
    const result = await this.contacts.delete({ ownerId, id });
    if (!result.affected) throw new NotFoundError('contact');
  }

  /** Newest first, keyset-paginated on (createdAt, id); `email`/`phone` narrow by blind index. */
  async list(
    ownerId: string,
    query: ListContactsQueryDto,
  ): Promise<ContactPageDto> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const builder = this.contacts
      .createQueryBuilder('contact')
      .where('contact.ownerId = :ownerId', { ownerId })
      .orderBy('contact.createdAt', 'DESC')
      .addOrderBy('contact.id', 'DESC')
      .take(limit + 1);
    if (query.email !== undefined) {
      builder.andWhere({
        emailIndex: In(
          this.blindIndexes.for(Contact, 'emailIndex', query.email),
        ),
      });
    }
    if (query.phone !== undefined) {
      builder.andWhere({
        phoneIndex: In(
          this.blindIndexes.for(Contact, 'phoneIndex', query.phone),
        ),
      });
    }
    if (query.cursor !== undefined) {
      const cursor = decodePageCursor(query.cursor);
      builder.andWhere(
        new Brackets((after) =>
          after
            .where('contact.createdAt < :cursorCreatedAt', {
              cursorCreatedAt: cursor.createdAt,
            })
            .orWhere(
              'contact.createdAt = :cursorCreatedAt AND contact.id < :cursorId',
              { cursorId: cursor.id },
            ),
        ),
      );
    }
    const rows = await builder.getMany();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toDto),
      nextCursor: rows.length > limit && last ? encodePageCursor(last) : null,
    };
  }

  /**
   * Every contact of the owner, oldest first, a page at a time (for documents that list them:
   * never all in memory at once). Needs the owner's keyring in context.
   */
  async *pagesOf(ownerId: string): AsyncGenerator<ContactDto[]> {
    for (let offset = 0; ; offset += CONTACTS_PER_PAGE) {
      const page = await this.contacts.find({
        where: { ownerId },
        order: { createdAt: 'ASC', id: 'ASC' },
        skip: offset,
        take: CONTACTS_PER_PAGE,
      });
      if (page.length === 0) return;
      yield page.map(toDto);
      if (page.length < CONTACTS_PER_PAGE) return;
    }
  }

  private async find(ownerId: string, id: string): Promise<Contact> {
    const contact = await this.contacts.findOneBy({ ownerId, id });
    if (!contact) throw new NotFoundError('contact');
    return contact;
  }
}

function toDto(contact: Contact): ContactDto {
  return {
    id: contact.id,
    fullName: contact.fullName,
    email: contact.email,
    phone: contact.phone,
    address: contact.address,
    notes: contact.notes,
    createdAt: contact.createdAt,
    updatedAt: contact.updatedAt,
  };
}
