import { AppMetrics } from '../common/metrics/app-metrics';
import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { pipeline, Transform } from 'node:stream';
import { EntityManager, Repository } from 'typeorm';
import { AuditContext, AuditLogService } from '../audit/audit-log.service';
import { readPage } from '../common/pagination/keyset-page';
import { PageQueryDto } from '../common/pagination/page-query.dto';
import { DomainError } from '../common/problem/domain-error';
import { LimitReachedError } from '../common/problem/limit-reached.error';
import { NotFoundError } from '../common/problem/not-found.error';
import { describeUnexpectedError } from '../common/problem/problem-details.filter';
import { AppConfig } from '../config/app-config';
import { ContactsService } from '../contacts/contacts.service';
import { CryptoError } from '@vault-pii/nest-encryption/crypto';
import {
  DataIntegrityError,
  RotationInProgressError,
  KeyContext,
  type Keyring,
} from '@vault-pii/nest-encryption';
import { ProfileService } from '../profile/profile.service';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { DocumentCipher } from './document-cipher';
import { DocumentCreationLimit } from './document-creation-limit';
import { DocumentFiles } from './document-files';
import { DocumentKind, StoredDocument } from './document.entity';
import { DocumentDto, DocumentPageDto } from './dto/document.dto';
import { PdfRenderPool, RenderAdmission } from './pdf-render-pool';

const DAY_MS = 86_400_000;

/** A document's decrypted content, withheld until its first chunk authenticated. */
export interface OpenedDocument {
  document: DocumentDto;
  firstChunk: Buffer | undefined;
  rest: AsyncIterator<Buffer>;
  abort(): void;
}

@Injectable()
export class DocumentsService {
  private readonly logger = new Logger(DocumentsService.name);

  constructor(
    @InjectRepository(StoredDocument)
    private readonly documents: Repository<StoredDocument>,
    private readonly users: UsersService,
    private readonly profiles: ProfileService,
    private readonly contacts: ContactsService,
    private readonly files: DocumentFiles,
    private readonly cipher: DocumentCipher,
    private readonly config: AppConfig,
    private readonly audit: AuditLogService,
    private readonly renders: PdfRenderPool,
    private readonly creations: DocumentCreationLimit,
    private readonly metrics: AppMetrics,
  ) {}

  /**
   * Renders the PDF in a worker thread and streams it through the AEAD straight to disk: no
   * plaintext on disk. Limits, in order: one creation at a time per user and a bounded render
   * queue (`PdfRenderPool`), `DOCUMENTS_PER_USER_LIMIT` (checked first, then again where it is
   * race-safe, in the insert's transaction), `DOCUMENTS_MIN_FREE_SPACE` on the volume,
   * `DOCUMENT_CREATION_LIMIT` per window. A volume that refuses the file (507) leaves no row.
   */
  async create(ownerId: string, kind: DocumentKind): Promise<DocumentDto> {
    const keyring = KeyContext.require();
    const admission = this.renders.admit(ownerId);
    try {
      // Early and cheap: a user at the cap spends neither a creation nor a render.
      await this.assertBelowDocumentLimit(this.documents.manager, ownerId);
      await this.files.assertRoomForNewFile();
      const takeBack = await this.creations.admit(ownerId);
      try {
        return await this.renderAndStore(admission, keyring, ownerId, kind);
      } catch (error) {
        await takeBack();
        throw error;
      }
    } finally {
      admission.release();
    }
  }

  private async renderAndStore(
    admission: RenderAdmission,
    keyring: Keyring,
    ownerId: string,
    kind: DocumentKind,
  ): Promise<DocumentDto> {
    const id = randomUUID();
    const createdAt = new Date();
    const user = await this.users.findByIdWithEmail(ownerId);
    if (!user) throw new NotFoundError('account');
    const profile = await this.profiles.get(ownerId);

    const pdf = admission.render(
      { email: user.email, profile: { ...profile }, generatedAt: createdAt },
      // Only the fields the summary draws reach the worker (never a contact's notes or ids).
      this.contacts.pagesOf(ownerId),
    );
    // Counted inside the pipeline: a 'data' listener would start the flow before the pipeline
    // is attached, and the bytes emitted meanwhile (the PDF header) would never reach the file.
    let sizeBytes = 0;
    const countBytes = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sizeBytes += chunk.length;
        done(null, chunk);
      },
    });
    // The worker's chunks are ours: the cipher zeroes each one once sealed.
    await this.files.write(
      id,
      pdf,
      countBytes,
      this.cipher.encrypt(keyring, ownerId, id, { wipeInput: true }),
    );

    const row = this.documents.create({
      id,
      ownerId,
      kind,
      filename: `${kind}-${createdAt.toISOString().slice(0, 10)}.pdf`,
      sizeBytes,
      createdAt,
      expiresAt: new Date(
        createdAt.getTime() + this.config.documentRetentionDays * DAY_MS,
      ),
    });
    try {
      await this.documents.manager.transaction(async (manager) => {
        // A key rotation that started while the file was written would miss it and later destroy
        // the key that sealed it. Its start updates this row, so it waits for this share lock or
        // has already committed — then the versions differ and the document is refused.
        const owner = await manager.findOne(User, {
          where: { id: ownerId },
          select: { id: true, activeKeyVersion: true },
          lock: { mode: 'pessimistic_read' },
        });
        if (owner?.activeKeyVersion !== keyring.activeVersion) {
          throw new RotationInProgressError(
            'The data key changed while the document was being written; try again.',
          );
        }
        // Race-safe cap: every insert of this owner's documents takes this transaction-scoped
        // advisory lock before counting, on any connection of any instance, so counts and inserts
        // of one owner run one transaction at a time; the lock is released at commit, and the
        // next count (READ COMMITTED: a snapshot taken after the lock was granted) sees the row.
        await manager.query(
          'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
          [`documents-per-user:${ownerId}`],
        );
        await this.assertBelowDocumentLimit(manager, ownerId);
        await manager.insert(StoredDocument, row);
      });
    } catch (error) {
      await this.files.delete(id);
      throw error;
    }
    return toDto(row);
  }

  /** @throws LimitReachedError (409) when the owner already holds `DOCUMENTS_PER_USER_LIMIT` documents. */
  private async assertBelowDocumentLimit(
    manager: EntityManager,
    ownerId: string,
  ): Promise<void> {
    const max = this.config.limits.documentsPerUser;
    const held = await manager.countBy(StoredDocument, { ownerId });
    if (held >= max) {
      throw new LimitReachedError(
        'DOCUMENTS_PER_USER_LIMIT',
        max,
        `You already hold ${max} documents, the most allowed; delete one first.`,
      );
    }
  }

  /** Newest first, keyset-paginated on (createdAt, id) (docs/http-api.md#pagination). */
  list(ownerId: string, query: PageQueryDto): Promise<DocumentPageDto> {
    const builder = this.documents
      .createQueryBuilder('document')
      .where('document.ownerId = :ownerId', { ownerId });
    return readPage(builder, 'document', query, toDto);
  }

  async get(ownerId: string, id: string): Promise<DocumentDto> {
    return toDto(await this.find(ownerId, id));
  }

  async delete(ownerId: string, id: string): Promise<void> {
    const document = await this.find(ownerId, id);
    await this.documents.delete({ id: document.id });
    await this.files.delete(document.id);
  }

  /**
   * Account deletion, in two steps around the deletion of the account (whose rows cascade to the
   * documents' rows): first the ids, then, once the account is gone, the files. A file that
   * cannot be deleted then is left to the retention job's orphan sweep, never blocking the
   * account's deletion.
   * @returns deletes the files of the documents the owner had when this was called.
   */
  async prepareDeletionOf(ownerId: string): Promise<() => Promise<void>> {
    const rows = await this.documents.find({
      where: { ownerId },
      select: { id: true },
    });
    return async () => {
      for (const { id } of rows) await this.files.delete(id);
    };
  }

  /**
   * Opens the decrypting stream and waits for the first authenticated chunk, so a tampered
   * header or first chunk still answers a clean 500 problem; later failures end the connection.
   */
  async open(
    ownerId: string,
    id: string,
    audit: AuditContext,
  ): Promise<OpenedDocument> {
    const document = await this.find(ownerId, id);
    const keyring = KeyContext.require();
    if (!(await this.files.exists(id))) {
      // Not an integrity failure: the volume may be mounted late, or held by another instance.
      this.logger.error({ documentId: id }, 'document file missing here');
      throw new DomainError(
        'document_file_unavailable',
        "The document's file is not available on this server's storage right now; the document is kept. Try again later.",
      );
    }
    const decrypted = pipeline(
      this.files.openRead(id),
      this.cipher.decrypt(keyring, ownerId, id),
      () => undefined, // errors surface through the iterator below
    );
    const iterator = decrypted[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      const first = await iterator.next();
      return {
        document: toDto(document),
        firstChunk: first.done ? undefined : first.value,
        rest: iterator,
        abort: () => decrypted.destroy(),
      };
    } catch (error) {
      decrypted.destroy();
      throw await this.integrityFailure(id, error, audit);
    }
  }

  /** Logged and audited; the caller ends the response without a valid-looking body. */
  async integrityFailure(
    id: string,
    error: unknown,
    audit: AuditContext,
  ): Promise<Error> {
    if (!(error instanceof CryptoError)) {
      this.logger.warn(
        { documentId: id, err: describeUnexpectedError(error) },
        'document stream ended early',
      );
      return error as Error;
    }
    this.logger.error(
      { documentId: id, reason: error.name },
      'document failed its integrity check',
    );
    this.metrics.integrityFailures.inc({
      table: 'documents',
      column: 'content',
    });
    await this.audit.record('data.integrity_failure', 'failure', null, audit);
    return new DataIntegrityError('documents', 'content', error.name);
  }

  private async find(ownerId: string, id: string): Promise<StoredDocument> {
    const document = await this.documents.findOneBy({ ownerId, id });
    if (!document) throw new NotFoundError('document');
    return document;
  }
}

function toDto(document: StoredDocument): DocumentDto {
  return {
    id: document.id,
    kind: document.kind,
    filename: document.filename,
    sizeBytes: document.sizeBytes,
    createdAt: document.createdAt,
    expiresAt: document.expiresAt,
  };
}
