import { spawnSync } from 'node:child_process';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  rmdirSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (!result.error && result.status === 0) return undefined;
  return (result.error?.message ?? result.stderr ?? '').trim() || 'failed';
}

/**
 * Why a test cannot mount a small tmpfs here (not root, no CAP_SYS_ADMIN, no `mount`), or
 * undefined when it can: tries a real mount, read-only remount and unmount.
 */
export function tmpfsUnavailableReason(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-tmpfs-probe-'));
  try {
    const refused = run('mount', [
      '-t',
      'tmpfs',
      '-o',
      'size=64k',
      'tmpfs',
      dir,
    ]);
    if (refused)
      return `cannot mount a tmpfs (mount: ${refused}); it takes root with CAP_SYS_ADMIN`;
    const remount = run('mount', ['-o', 'remount,ro', dir]);
    const unmount = run('umount', [dir]);
    if (remount || unmount)
      return `cannot remount or unmount a tmpfs (${remount ?? unmount})`;
    return undefined;
  } finally {
    rmdirSync(dir);
  }
}

/**
 * A tmpfs of its own, mounted on a temporary folder, that a test fills, frees and remounts
 * read-only: a genuinely full or read-only file system, which root's permissions cannot get
 * around (chmod would not stop root).
 */
export class TmpfsVolume {
  private filler: { fd: number; path: string } | undefined;

  private constructor(readonly path: string) {}

  static mount(sizeBytes: number): TmpfsVolume {
    const path = mkdtempSync(join(tmpdir(), 'e2e-tmpfs-'));
    const refused = run('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=${sizeBytes},mode=0755`,
      'tmpfs',
      path,
    ]);
    if (refused) {
      rmdirSync(path);
      throw new Error(`mount tmpfs on ${path}: ${refused}`);
    }
    return new TmpfsVolume(path);
  }

  /** Bytes a process may still write (statfs `bavail` × `bsize`, as the app reads it). */
  availableBytes(): number {
    const stats = statfsSync(this.path);
    return stats.bavail * stats.bsize;
  }

  /** Writes a filler file until the file system says ENOSPC: nothing is left. */
  fill(): void {
    const path = join(this.path, 'filler');
    const fd = openSync(path, 'w');
    this.filler = { fd, path };
    // Whole pages at page-aligned offsets, so the filler's size stays a multiple of the page.
    let chunk = Buffer.alloc(1 << 20, 0x5a);
    for (;;) {
      try {
        if (writeSync(fd, chunk) === 0) break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        if (chunk.length === 4096) break;
        chunk = chunk.subarray(0, 4096);
      }
    }
  }

  /** Gives `bytes` (whole pages) back by shortening the filler. */
  release(bytes: number): void {
    if (!this.filler) throw new Error('fill() first');
    ftruncateSync(this.filler.fd, fstatSync(this.filler.fd).size - bytes);
  }

  /** Removes the filler: the volume is as before `fill()`. */
  empty(): void {
    if (!this.filler) return;
    closeSync(this.filler.fd);
    rmSync(this.filler.path);
    this.filler = undefined;
  }

  /** A remount read-only (a file still open for writing would make it fail: `empty()` first). */
  remount(mode: 'ro' | 'rw'): void {
    const refused = run('mount', ['-o', `remount,${mode}`, this.path]);
    if (refused) throw new Error(`remount ${mode} ${this.path}: ${refused}`);
  }

  /** Unmounts (lazily if something still holds it) and removes the mount point. */
  unmount(): void {
    // The filler goes with the file system (which may be read-only now): only its handle is closed.
    if (this.filler) closeSync(this.filler.fd);
    this.filler = undefined;
    if (run('umount', [this.path])) run('umount', ['-l', this.path]);
    rmdirSync(this.path);
  }
}
