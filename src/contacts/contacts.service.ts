import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { LimitReachedError } from '../common/problem/limit-reached.error';
import { NotFoundError } from '../common/problem/not-found.error';
import { AppConfig } from '../config/app-config';
import { BlindIndexes, advisoryLockKey } from '@vault-pii/nest-encryption';
import { Contact } from './contact.entity';
import { readPage } from '../common/pagination/keyset-page';
import {
  ContactDto,
  ContactPageDto,
  CreateContactDto,
  SearchContactsDto,
  UpdateContactDto,
} from './dto/contact.dto';

/**
 * Contacts read per query when a document lists them all: each page is decrypted on the event
 * loop in one go, so a small page keeps that slice short (a render's other work is in a worker).
 */
const CONTACTS_PER_PAGE = 100;

/** What a document shows of a contact. */
export type ContactSummary = Pick<
  ContactDto,
  'fullName' | 'email' | 'phone' | 'address'
>;
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

  /**
   * Newest first, keyset-paginated on (createdAt, id); `email`/`phone` narrow by blind index.
   * Serves both the list (GET, query string) and the search (POST, body): one matching for both.
   */
  async list(
    ownerId: string,
    query: SearchContactsDto,
  ): Promise<ContactPageDto> {
    const builder = this.contacts
      .createQueryBuilder('contact')
      .where('contact.ownerId = :ownerId', { ownerId });
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
    return readPage(builder, 'contact', query, toDto);
  }

  /**
   * Every contact of the owner, oldest first, a page at a time (for documents that list them:
   * never all in memory at once), with only the fields a document draws: the notes are neither
   * read nor decrypted. Needs the owner's keyring in context.
   */
  async *pagesOf(ownerId: string): AsyncGenerator<ContactSummary[]> {
    for (let offset = 0; ; offset += CONTACTS_PER_PAGE) {
      const page = await this.contacts.find({
        where: { ownerId },
        select: {
          id: true,
          ownerId: true,
          createdAt: true,
          fullName: true,
          email: true,
          phone: true,
          address: true,
        },
        order: { createdAt: 'ASC', id: 'ASC' },
        skip: offset,
        take: CONTACTS_PER_PAGE,
      });
      if (page.length === 0) return;
      yield page.map(({ fullName, email, phone, address }) => ({
        fullName,
        email,
        phone,
        address,
      }));
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
