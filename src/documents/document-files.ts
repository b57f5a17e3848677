import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { createReadStream, createWriteStream, ReadStream } from 'node:fs';
import { constants } from 'node:fs';
import type { StatsFs } from 'node:fs';
import {
  access,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  statfs,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StoreOutageLog } from '@vault-pii/nest-encryption/redis';
import { AppConfig } from '../config/app-config';
import { StorageUnavailableError } from './storage-unavailable.error';

const FILE_SUFFIX = '.vpd';
const TEMP_SUFFIX = '.tmp';
/** Temporary name of a file being re-encrypted (its own, so it never meets a create's). */
const REWRITE_SUFFIX = '.rewrite.tmp';
const UUID_FILE =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.vpd$/;
/**
 * What a file system says when it will not take a file: full, over quota, read-only, not
 * permitted, or the folder gone (a volume unmounted). Other failures stay unexpected (500).
 */
const STORAGE_REFUSALS = new Set([
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'ENOENT',
  'ENOTDIR',
]);

/**
 * The documents folder cannot be listed (missing, e.g. a volume not mounted, or unreadable): a
 * sweep that went on would take every document for an orphan.
 */
export class DocumentsFolderUnavailableError extends Error {
  constructor(readonly code: string | undefined) {
    super(`the documents folder cannot be listed (${code ?? 'unknown'})`);
    this.name = 'DocumentsFolderUnavailableError';
  }
}

/**
 * Encrypted document files under `DATA_DIR/documents/`, named by document id (no PII in names).
 * Writes go to a temporary name and are renamed into place, so a crash leaves either nothing
 * or a `.tmp` file the orphan sweep removes — never a half-written file under a real name.
 */
@Injectable()
export class DocumentFiles implements OnModuleInit {
  private readonly logger = new Logger(DocumentFiles.name);
  readonly directory: string;
  private readonly minFreeBytes: number;
  /** One line when the volume refuses files, one when a file is written again (no paths). */
  private readonly volumeOutage = new StoreOutageLog(
    this.logger,
    {
      down: (reason, during) =>
        `documents volume refused ${during} (${reason}): document creation answers 507 until a file is written again`,
      up: 'documents volume writable again',
    },
    (error) =>
      error instanceof StorageUnavailableError ? error.reason : 'unknown',
  );

  constructor(config: AppConfig) {
    this.directory = join(config.dataDir, 'documents');
    this.minFreeBytes = config.limits.documentsMinFreeBytes;
  }

  /**
   * Creates the folder on a fresh `DATA_DIR`, so that from then on a missing folder means a
   * volume gone (see `inventory`). A folder that cannot be created is logged; readiness says so.
   */
  async onModuleInit(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 }).catch(
      (error: NodeJS.ErrnoException) =>
        this.logger.error(
          { err: { type: error.name, code: error.code } },
          'the documents folder cannot be created',
        ),
    );
  }

  pathOf(id: string): string {
    return join(this.directory, `${id}${FILE_SUFFIX}`);
  }

  /**
   * Refuses a new document early, before anything is rendered, when the volume has less free
   * space than `DOCUMENTS_MIN_FREE_SPACE` or the folder is gone: better than filling the disk.
   * @throws StorageUnavailableError
   */
  async assertRoomForNewFile(): Promise<void> {
    let stats: StatsFs;
    try {
      stats = await statfs(this.directory);
    } catch (error) {
      throw this.refusal(error, 'a document');
    }
    if (isBelowMinimumFreeSpace(stats, this.minFreeBytes)) {
      const refusal = new StorageUnavailableError(
        `${availableBytes(stats)} bytes free, DOCUMENTS_MIN_FREE_SPACE is ${this.minFreeBytes}`,
      );
      this.volumeOutage.failed(refusal, 'a document');
      throw refusal;
    }
  }

  /**
   * Streams the output of `stages` (ending in the encryption) to disk; returns the file size.
   * @throws StorageUnavailableError when the volume refuses the file (the temporary file removed).
   */
  async write(
    id: string,
    ...stages: [Readable, ...NodeJS.ReadWriteStream[]]
  ): Promise<number> {
    const finalPath = this.pathOf(id);
    const tempPath = `${finalPath}${TEMP_SUFFIX}`;
    try {
      await mkdir(this.directory, { recursive: true, mode: 0o700 });
      await pipeline([
        ...stages,
        createWriteStream(tempPath, { mode: 0o600, flags: 'wx' }),
      ]);
      await rename(tempPath, finalPath);
    } catch (error) {
      // The first error is the one worth reporting; a temporary file that outlives it is a stray
      // the retention job removes.
      await rm(tempPath, { force: true }).catch(() => undefined);
      throw this.refusal(error, 'a document');
    }
    const size = (await stat(finalPath)).size;
    this.volumeOutage.answered();
    return size;
  }

  /**
   * Replaces an existing file by `stages` applied to its current bytes (key rotation): written to
   * a temporary name, flushed to disk, then renamed over the old file and the directory flushed,
   * so the file is the old one or the new one, whole, at every moment and after a crash. A
   * temporary file left by an earlier crash is discarded first.
   * @returns false when the file does not exist (nothing was written).
   * @throws StorageUnavailableError when the volume refuses the new file (the old one is kept).
   */
  async replace(
    id: string,
    ...stages: NodeJS.ReadWriteStream[]
  ): Promise<boolean> {
    const finalPath = this.pathOf(id);
    const tempPath = `${finalPath}${REWRITE_SUFFIX}`;
    if (!(await this.exists(id))) return false;
    await rm(tempPath, { force: true });
    try {
      await pipeline([
        createReadStream(finalPath),
        ...stages,
        createWriteStream(tempPath, { mode: 0o600, flags: 'wx' }),
      ]);
      await syncPath(tempPath);
      await rename(tempPath, finalPath);
      await syncPath(this.directory);
    } catch (error) {
      await rm(tempPath, { force: true }).catch(() => undefined);
      if (
        (error as NodeJS.ErrnoException).code === 'ENOENT' &&
        !(await this.exists(id))
      )
        return false;
      throw this.refusal(error, 'a re-encrypted document');
    }
    this.volumeOutage.answered();
    return true;
  }

  /** The first `bytes` bytes of a file (fewer if it is shorter), or undefined when it does not exist. */
  async readHead(id: string, bytes: number): Promise<Buffer | undefined> {
    const handle = await open(this.pathOf(id), 'r').catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (!handle) return undefined;
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  openRead(id: string): ReadStream {
    return createReadStream(this.pathOf(id));
  }

  async exists(id: string): Promise<boolean> {
    return stat(this.pathOf(id)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Deletes a document's file. A volume that refuses (read-only, gone) keeps it, logged once per
   * outage: its row is already gone or never was, so the retention job's orphan sweep removes the
   * file once the volume takes changes again, and the request that deleted the document succeeds.
   * @returns false when the file was left for the sweep.
   */
  async delete(id: string): Promise<boolean> {
    try {
      await rm(this.pathOf(id), { force: true });
      return true;
    } catch (error) {
      const refusal = this.refusal(
        error,
        "deleting a document's file (left for the orphan sweep)",
      );
      if (refusal instanceof StorageUnavailableError) return false;
      throw refusal;
    }
  }

  /**
   * Whether the folder exists, this process can list, read and write it (a read-only mount says
   * no), and its volume has at least `DOCUMENTS_MIN_FREE_SPACE` free (readiness).
   */
  async isAvailable(): Promise<boolean> {
    try {
      const info = await stat(this.directory);
      if (!info.isDirectory()) return false;
      await access(
        this.directory,
        constants.R_OK | constants.W_OK | constants.X_OK,
      );
      return !isBelowMinimumFreeSpace(
        await statfs(this.directory),
        this.minFreeBytes,
      );
    } catch {
      return false;
    }
  }

  /**
   * Every file in the directory with its age: document files (by id) and anything else.
   * @throws DocumentsFolderUnavailableError when the folder is missing or cannot be listed: never
   *   an empty inventory, which would make every document look like an orphan.
   */
  async inventory(): Promise<{
    documents: { id: string; ageMs: number }[];
    strays: { name: string; ageMs: number }[];
  }> {
    const names = await readdir(this.directory).catch(
      (error: NodeJS.ErrnoException) => {
        throw new DocumentsFolderUnavailableError(error.code);
      },
    );
    const documents: { id: string; ageMs: number }[] = [];
    const strays: { name: string; ageMs: number }[] = [];
    for (const name of names) {
      const info = await stat(join(this.directory, name)).catch(
        () => undefined,
      );
      if (!info?.isFile()) continue;
      const ageMs = Date.now() - info.mtimeMs;
      const match = UUID_FILE.exec(name);
      if (match) documents.push({ id: match[1], ageMs });
      else strays.push({ name, ageMs });
    }
    return { documents, strays };
  }

  async deleteStray(name: string): Promise<void> {
    await rm(join(this.directory, name), { force: true });
  }

  /**
   * `error` as a `StorageUnavailableError` (logged once per outage) when it is the file system
   * refusing a file; anything else unchanged.
   */
  private refusal(error: unknown, during: string): unknown {
    const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException;
    // `syscall` tells a file system error from a stage's (a render, the cipher) that has a code.
    if (typeof syscall !== 'string' || !STORAGE_REFUSALS.has(code ?? ''))
      return error;
    const refusal = new StorageUnavailableError(code as string);
    this.volumeOutage.failed(refusal, during);
    return refusal;
  }
}

/** Bytes an unprivileged writer may still use (what `df` shows as available): not root's reserve. */
export function availableBytes(
  stats: Pick<StatsFs, 'bavail' | 'bsize'>,
): number {
  return stats.bavail * stats.bsize;
}

/** Whether a volume has less free space than `minFreeBytes` (0: never). */
export function isBelowMinimumFreeSpace(
  stats: Pick<StatsFs, 'bavail' | 'bsize'>,
  minFreeBytes: number,
): boolean {
  return availableBytes(stats) < minFreeBytes;
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
