import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import {
  readStreamHeader,
  STREAM_HEADER_BYTES,
} from '@vault-pii/nest-encryption/crypto';
import type { Keyring, RotationParticipant } from '@vault-pii/nest-encryption';
import { DocumentCipher } from './document-cipher';
import { DocumentFiles } from './document-files';
import { StoredDocument } from './document.entity';

/**
 * The document files' part of a key rotation (docs/crypto.md#key-rotation and docs/documents.md),
 * as the library's `RotationParticipant`: finds the files of a user still sealed under an older key
 * version (the version is in each file's header) and re-encrypts them as a stream into a new file
 * that replaces the old one atomically.
 */
@Injectable()
export class DocumentKeyRotation implements RotationParticipant {
  readonly name = 'documents';

  constructor(
    @InjectRepository(StoredDocument)
    private readonly documents: Repository<StoredDocument>,
    private readonly files: DocumentFiles,
    private readonly cipher: DocumentCipher,
  ) {}

  /**
   * Ids of the owner's documents whose file is sealed under a version other than `version`. Pass
   * the `manager` of a transaction that holds locks, so the query runs on its connection rather
   * than waiting for a pooled one.
   */
  async pendingUnder(
    ownerId: string,
    version: number,
    manager: EntityManager = this.documents.manager,
  ): Promise<string[]> {
    const rows = await manager.find(StoredDocument, {
      where: { ownerId },
      select: { id: true },
      order: { id: 'ASC' },
    });
    const stale: string[] = [];
    for (const { id } of rows) {
      const head = await this.files.readHead(id, STREAM_HEADER_BYTES);
      // A missing file holds no ciphertext (the retention job removes its row).
      if (head && readStreamHeader(head).keyVersion !== version) stale.push(id);
    }
    return stale;
  }

  /**
   * Re-encrypts one file under the keyring's active version (decrypting with whichever version
   * its header names). @returns false when the document is gone.
   */
  async reencrypt(
    ownerId: string,
    id: string,
    keyring: Keyring,
  ): Promise<boolean> {
    const replaced = await this.files.replace(
      id,
      ...this.cipher.reencrypt(keyring, ownerId, id),
    );
    if (!replaced) return false;
    // Deleted while it was rewritten: the rename may have put the file back.
    if (!(await this.documents.existsBy({ id }))) {
      await this.files.delete(id);
      return false;
    }
    return true;
  }
}
