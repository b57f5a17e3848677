import { Injectable } from '@nestjs/common';
import { createReadStream, createWriteStream, ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppConfig } from '../config/app-config';

const FILE_SUFFIX = '.vpd';
const TEMP_SUFFIX = '.tmp';
const UUID_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.vpd$/;

/**
 * Encrypted document files under `DATA_DIR/documents/`, named by document id (no PII in names).
 * Writes go to a temporary name and are renamed into place, so a crash leaves either nothing
 * or a `.tmp` file the orphan sweep removes — never a half-written file under a real name.
 */
@Injectable()
export class DocumentFiles {
  readonly directory: string;

  constructor(config: AppConfig) {
    this.directory = join(config.dataDir, 'documents');
  }

  pathOf(id: string): string {
    return join(this.directory, `${id}${FILE_SUFFIX}`);
  }

  /** Streams the output of `stages` (ending in the encryption) to disk; returns the file size. */
  async write(id: string, ...stages: [Readable, ...NodeJS.ReadWriteStream[]]): Promise<number> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const finalPath = this.pathOf(id);
    const tempPath = `${finalPath}${TEMP_SUFFIX}`;
    try {
      await pipeline([...stages, createWriteStream(tempPath, { mode: 0o600, flags: 'wx' })]);
      await rename(tempPath, finalPath);
    } catch (error) {
      await rm(tempPath, { force: true });
      throw error;
    }
    return (await stat(finalPath)).size;
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

  async delete(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true });
  }

  /** Every file in the directory with its age: document files (by id) and anything else. */
  async inventory(): Promise<{ documents: { id: string; ageMs: number }[]; strays: { name: string; ageMs: number }[] }> {
    const names = await readdir(this.directory).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const documents: { id: string; ageMs: number }[] = [];
    const strays: { name: string; ageMs: number }[] = [];
    for (const name of names) {
      const info = await stat(join(this.directory, name)).catch(() => undefined);
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
}
