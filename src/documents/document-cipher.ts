import { Injectable } from '@nestjs/common';
import type { Transform } from 'node:stream';
import { AppConfig } from '../config/app-config';
import {
  createDecryptStream,
  createEncryptStream,
  StreamAlgorithm,
} from '@vault-pii/nest-encryption/crypto';
import type { Keyring } from '@vault-pii/nest-encryption';

/**
 * The streaming AEAD of document files (docs/documents.md#file-format): each file sealed under the
 * owner's active key version with the configured algorithm and bound to its owner and document, so
 * a moved, swapped, truncated or altered file fails to decrypt. Decryption takes whichever version
 * a file's header names, from the keyring given; failures are `CryptoError`s.
 */
@Injectable()
export class DocumentCipher {
  private readonly algorithm: StreamAlgorithm;

  constructor(config: AppConfig) {
    this.algorithm = streamAlgorithmFor(config);
  }

  /**
   * Transform: a document's plaintext in, its file's bytes out, under `keyring`'s active version.
   * `wipeInput`: each plaintext chunk written is zeroed once sealed (the writer owns its chunks).
   */
  encrypt(
    keyring: Keyring,
    ownerId: string,
    documentId: string,
    { wipeInput = false }: { wipeInput?: boolean } = {},
  ): Transform {
    return createEncryptStream(keyring.activeKey(), {
      algorithm: this.algorithm,
      keyVersion: keyring.activeVersion,
      aad: documentAad(ownerId, documentId),
      wipeInput,
    });
  }

  /** Transform: a document file's bytes in, its plaintext out, each chunk once authenticated. */
  decrypt(keyring: Keyring, ownerId: string, documentId: string): Transform {
    return createDecryptStream(
      (version) => keyring.key(version),
      documentAad(ownerId, documentId),
    );
  }

  /** The stages that re-seal a file under `keyring`'s active version (key rotation). */
  reencrypt(
    keyring: Keyring,
    ownerId: string,
    documentId: string,
  ): [Transform, Transform] {
    return [
      this.decrypt(keyring, ownerId, documentId),
      this.encrypt(keyring, ownerId, documentId),
    ];
  }
}

/** The streaming AEAD new document files are sealed with (both always decrypt). */
function streamAlgorithmFor(
  config: Pick<AppConfig, 'encryptionAlgorithm'>,
): StreamAlgorithm {
  return config.encryptionAlgorithm === 'aes-256-gcm'
    ? StreamAlgorithm.SegmentedAes256Gcm
    : StreamAlgorithm.SecretStreamXChaCha20Poly1305;
}

/** Binds a file to its owner and document: moved or swapped files fail to decrypt. */
function documentAad(ownerId: string, documentId: string): Buffer {
  return Buffer.from(`document\u0000${ownerId}\u0000${documentId}`, 'utf8');
}
