import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Core dumps of live processes, and searches of them for key bytes (docs/crypto.md#keys-in-memory:
 * a core dump of the live server reveals no key). gdb's `gcore` writes what a crash dump would:
 * every mapping except those marked MADV_DONTDUMP, which is what libsodium's `sodium_malloc` sets
 * on key memory, with each thread's registers. Private anonymous mappings that hold no page are
 * left out, as the kernel's core dumper leaves them out (gcore-without-empty-mappings.py).
 */

export const GDB_PATH = process.env.GDB_PATH ?? '/usr/bin/gdb';
/** The gdb script that writes the dump (see the file for why it leaves out mappings holding no page). */
const GCORE_SCRIPT = join(__dirname, 'gcore-without-empty-mappings.py');
/**
 * `CORE_DUMP_ALL_MAPPINGS=1`: plain `gcore`, every mapping whole (an 11 GB file of zeros on Node 20,
 * 20–35 s), to check that leaving out the mappings that hold no page changes no result.
 */
export const DUMP_ALL_MAPPINGS = process.env.CORE_DUMP_ALL_MAPPINGS === '1';

/** gdb as /usr/bin/gcore runs it: no .gdbinit, no debug info, no debuginfod. */
const GDB_BATCH = [
  '--nx',
  '--batch',
  '--readnever',
  '-iex',
  'set debuginfod enabled off',
];

let functionCallsChecked: string | undefined | null = null;
/**
 * Why gdb cannot call a function inside a stopped process here, or undefined when it can.
 * Leaving out the empty mappings needs such calls (madvise), and on some machines gdb cannot
 * restore the registers afterwards: gdb 13 on CPUs with AMX state prints "Couldn't write extended
 * state status" and leaves the process running with wrong registers. So this is tried on a
 * throwaway `sleep`, never first on a process under test; when it fails every mapping is dumped.
 */
export function gdbFunctionCallsUnavailableReason(): string | undefined {
  if (functionCallsChecked !== null) return functionCallsChecked;
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const result = spawnSync(
      GDB_PATH,
      [
        ...GDB_BATCH,
        '-ex',
        `attach ${sleeper.pid}`,
        '-ex',
        'print (int) getpid()',
        '-ex',
        'detach',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    const printed = /^\$1 = (\d+)$/m.exec(result.stdout ?? '')?.[1];
    const trouble = `${result.stderr ?? ''}`
      .split('\n')
      .find((line) => /couldn't write|cannot|error/i.test(line));
    functionCallsChecked =
      printed === String(sleeper.pid) && !trouble
        ? undefined
        : `gdb cannot call functions inside a process on this machine (${(trouble ?? result.error?.message ?? `printed ${printed ?? 'nothing'}`).trim()})`;
  } finally {
    sleeper.kill('SIGKILL');
  }
  return functionCallsChecked;
}

/**
 * Why dumps are plain `gcore` of every mapping (asked for, or gdb cannot mark the empty mappings
 * here), or undefined when the empty mappings are left out.
 */
export function allMappingsReason(): string | undefined {
  return DUMP_ALL_MAPPINGS
    ? 'CORE_DUMP_ALL_MAPPINGS=1'
    : gdbFunctionCallsUnavailableReason();
}

/** Why core dumps cannot be taken here (no gdb, no Python in gdb, no ptrace), or undefined when they can. */
export function coreDumpUnavailableReason(): string | undefined {
  if (process.platform !== 'linux')
    return `core dumps are checked on Linux only (this is ${process.platform})`;
  if (!existsSync(GDB_PATH))
    return `${GDB_PATH} not found (Debian: apt-get install -y gdb)`;
  try {
    const configuration = execFileSync(GDB_PATH, ['--configuration'], {
      encoding: 'utf8',
    });
    if (!configuration.includes('--with-python'))
      return `${GDB_PATH} was built without Python (Debian's gdb has it)`;
  } catch (error) {
    return `${GDB_PATH} --configuration failed: ${(error as Error).message}`;
  }
  try {
    const scope = readFileSync(
      '/proc/sys/kernel/yama/ptrace_scope',
      'utf8',
    ).trim();
    if (scope === '3')
      return 'ptrace is disabled (kernel.yama.ptrace_scope = 3)';
    if (scope !== '0' && process.getuid?.() !== 0)
      return `ptrace of child processes needs root or kernel.yama.ptrace_scope = 0 (it is ${scope})`;
  } catch {
    // No Yama: ptrace of one's own processes is allowed.
  }
  return undefined;
}

/** One line of /proc/<pid>/maps. */
export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  /** Path, `[heap]`, `[stack]`, or '' for anonymous memory. */
  name: string;
  /** Set from /proc/<pid>/smaps: the mapping carries MADV_DONTDUMP (`dd`). */
  dontDump: boolean;
}

export function readMappings(pid: number): Mapping[] {
  const dontDump = new Set<string>();
  let current = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const range = /^([0-9a-f]+-[0-9a-f]+) /.exec(line);
    if (range) current = range[1];
    else if (line.startsWith('VmFlags:') && / dd( |$)/.test(line))
      dontDump.add(current);
  }
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [range, perms, , , , ...name] = line.split(/\s+/);
      const [start, end] = range.split('-').map((hex) => BigInt(`0x${hex}`));
      return {
        start,
        end,
        perms,
        name: name.join(' '),
        dontDump: dontDump.has(range),
      };
    });
}

export interface CoreDump {
  path: string;
  pid: number;
  bytes: number;
  /** Disk blocks the file takes (it may be sparse). */
  diskBytes: number;
  durationMs: number;
  /** The process's mappings, read just before the dump. */
  mappings: Mapping[];
  segments: LoadSegment[];
  notes: Note[];
  /** Thread id → name (/proc/<pid>/task/<tid>/comm), read just before the dump. */
  threads: Map<number, string>;
  /**
   * Mappings left out because they held no page (none with CORE_DUMP_ALL_MAPPINGS=1), and how
   * many madvise calls failed (a mapping that could not be marked is dumped whole).
   */
  leftOut: { count: number; bytes: number; failedCalls: number };
}

/**
 * A core file of the live process `pid` at `<prefix>.<pid>`, written by gdb's `gcore` as
 * /usr/bin/gcore runs it (the process is stopped while gdb is attached and continues afterwards),
 * through gcore-without-empty-mappings.py unless every mapping is dumped (allMappingsReason()).
 */
export async function takeCoreDump(
  pid: number,
  prefix: string,
): Promise<CoreDump> {
  const mappings = readMappings(pid);
  const threads = new Map<number, string>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(
        Number(tid),
        readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
      );
    } catch {
      // The thread ended meanwhile.
    }
  }
  const path = `${prefix}.${pid}`;
  const allMappings = allMappingsReason() !== undefined;
  const dump = allMappings ? ['-ex', `gcore ${path}`] : ['-x', GCORE_SCRIPT];
  const started = Date.now();
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      GDB_PATH,
      [
        ...GDB_BATCH,
        '-ex',
        'set pagination off',
        '-ex',
        'set height 0',
        '-ex',
        'set width 0',
        '-ex',
        `attach ${pid}`,
        ...dump,
        '-ex',
        'detach',
        '-ex',
        'quit',
      ],
      {
        env: { ...process.env, CORE_DUMP_PATH: path },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    ));
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(
      `gdb could not dump ${pid}: ${(stderr || message).trim()}`,
      { cause: error },
    );
  }
  if (!existsSync(path))
    throw new Error(`gdb did not write ${path}:\n${stdout}`);
  let leftOut = { count: 0, bytes: 0, failedCalls: 0 };
  if (!allMappings) {
    const line = stdout
      .split('\n')
      .find((l) => l.startsWith('CORE_DUMP_RESULT '));
    if (!line) throw new Error(`${GCORE_SCRIPT} printed no result:\n${stdout}`);
    const result = JSON.parse(line.slice('CORE_DUMP_RESULT '.length)) as {
      left_out: string[][];
      left_out_bytes: number;
      mark_failed: number;
      dont_dump_restored: boolean;
    };
    if (!result.dont_dump_restored)
      throw new Error(
        `the MADV_DONTDUMP mappings of ${pid} changed during the dump`,
      );
    leftOut = {
      count: result.left_out.length,
      bytes: result.left_out_bytes,
      failedCalls: result.mark_failed,
    };
  }
  const stat = statSync(path);
  return {
    path,
    pid,
    bytes: stat.size,
    diskBytes: stat.blocks * 512,
    durationMs: Date.now() - started,
    mappings,
    segments: loadSegments(path),
    notes: readNotes(path),
    threads,
    leftOut,
  };
}

/** A PT_LOAD program header of an ELF64 core: file bytes [offset, offset+fileSize) are memory at vaddr. */
export interface LoadSegment {
  offset: number;
  vaddr: bigint;
  fileSize: number;
  memSize: number;
}

const PT_LOAD = 1;
const PN_XNUM = 0xffff;

/** The PT_LOAD segments of a little-endian ELF64 core file (x86-64, arm64). */
export function loadSegments(path: string): LoadSegment[] {
  const fd = openSync(path, 'r');
  try {
    const read = (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, position);
      return buffer;
    };
    const header = read(0, 64);
    if (
      header.readUInt32BE(0) !== 0x7f454c46 ||
      header[4] !== 2 ||
      header[5] !== 1
    ) {
      throw new Error(`${path} is not a little-endian ELF64 file`);
    }
    if (header.readUInt16LE(16) !== 4)
      throw new Error(
        `${path} is not a core file (e_type ${header.readUInt16LE(16)})`,
      );
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    let phnum = header.readUInt16LE(0x38);
    if (phnum === PN_XNUM) {
      // More than 65,534 segments: the real count is section header 0's sh_info.
      const shoff = Number(header.readBigUInt64LE(0x28));
      phnum = read(shoff, 64).readUInt32LE(0x2c);
    }
    const table = read(phoff, phentsize * phnum);
    const segments: LoadSegment[] = [];
    for (let i = 0; i < phnum; i++) {
      const entry = table.subarray(i * phentsize, (i + 1) * phentsize);
      if (entry.readUInt32LE(0) !== PT_LOAD) continue;
      segments.push({
        offset: Number(entry.readBigUInt64LE(8)),
        vaddr: entry.readBigUInt64LE(16),
        fileSize: Number(entry.readBigUInt64LE(32)),
        memSize: Number(entry.readBigUInt64LE(40)),
      });
    }
    return segments;
  } finally {
    closeSync(fd);
  }
}

/** The virtual address a core file offset holds, or undefined outside every PT_LOAD segment. */
export function addressOf(
  segments: readonly LoadSegment[],
  offset: number,
): bigint | undefined {
  const segment = segments.find(
    (s) => offset >= s.offset && offset < s.offset + s.fileSize,
  );
  return segment && segment.vaddr + BigInt(offset - segment.offset);
}

export function mappingOf(
  mappings: readonly Mapping[],
  address: bigint,
): Mapping | undefined {
  return mappings.find((m) => address >= m.start && address < m.end);
}

/** Byte patterns to find, each with a name (e.g. `vault key (raw)`). */
export interface Needle {
  /** What is searched for, e.g. `server secret: vault key`. */
  key: string;
  /** How it is encoded, e.g. `raw`, `base64`, `first 16 bytes`. */
  form: string;
  bytes: Buffer;
}

export interface Hit {
  needle: Needle;
  /** Offset in the core file. */
  offset: number;
  address?: bigint;
  mapping?: Mapping;
  /** For a hit outside every PT_LOAD segment: the note holding it (e.g. a thread's registers). */
  note?: Note;
  /** Up to 48 bytes either side (hex), to tell which structure holds the copy. */
  context: string;
}

const CHUNK_BYTES = 64 * 1024 * 1024;
const BLOCK_BYTES = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(BLOCK_BYTES);

/**
 * Every occurrence of every needle in the file at `path`, read in 64 MiB windows that overlap by
 * the longest needle less one byte, so a match across a window boundary is found once.
 *
 * All-zero 64 KiB blocks are skipped (a needle holds a non-zero byte, so a match overlaps a
 * non-zero block): pages never written read as zeros (with CORE_DUMP_ALL_MAPPINGS=1, V8's
 * 10 GiB WebAssembly guard reservation among them), and memcmp passes over them ~10× faster
 * than a search.
 */
export function scanFile(
  path: string,
  needles: readonly Needle[],
  segments: readonly LoadSegment[] = [],
  mappings: readonly Mapping[] = [],
  notes: readonly Note[] = [],
): Hit[] {
  const searched = needles.filter((needle) =>
    needle.bytes.some((byte) => byte !== 0),
  );
  const longest = Math.max(1, ...searched.map((n) => n.bytes.length));
  const overlap = longest - 1;
  const fd = openSync(path, 'r');
  const window = Buffer.allocUnsafe(CHUNK_BYTES + overlap);
  const hits: Hit[] = [];
  try {
    let kept = 0; // bytes carried over from the previous window
    let windowStart = 0; // file offset of window[0]
    for (;;) {
      const read = readSync(fd, window, kept, CHUNK_BYTES, windowStart + kept);
      const length = kept + read;
      if (length === 0) break;
      const view = window.subarray(0, length);
      for (const [from, to] of nonZeroRanges(view, overlap)) {
        const range = view.subarray(from, to);
        for (const needle of searched) {
          let at = range.indexOf(needle.bytes, 0);
          while (at !== -1) {
            const inWindow = from + at;
            // A match lying entirely inside the carried-over bytes was found in the previous window.
            if (windowStart === 0 || inWindow + needle.bytes.length > kept) {
              hits.push({
                needle,
                offset: windowStart + inWindow,
                context: view
                  .subarray(
                    Math.max(0, inWindow - 48),
                    inWindow + needle.bytes.length + 48,
                  )
                  .toString('hex'),
              });
            }
            at = range.indexOf(needle.bytes, at + 1);
          }
        }
      }
      if (read === 0) break;
      // Carry the last `overlap` bytes into the next window.
      const carry = Math.min(overlap, length);
      window.copy(window, 0, length - carry, length);
      windowStart += length - carry;
      kept = carry;
    }
  } finally {
    closeSync(fd);
  }
  for (const hit of hits) {
    hit.address = addressOf(segments, hit.offset);
    if (hit.address !== undefined)
      hit.mapping = mappingOf(mappings, hit.address);
    else
      hit.note = notes.find(
        (note) =>
          hit.offset >= note.offset && hit.offset < note.offset + note.bytes,
      );
  }
  return hits;
}

/** [from, to) ranges of `view` holding its non-zero blocks, widened by `margin` and merged. */
function nonZeroRanges(view: Buffer, margin: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let block = 0; block < view.length; block += BLOCK_BYTES) {
    const end = Math.min(view.length, block + BLOCK_BYTES);
    const isZero =
      end - block === BLOCK_BYTES
        ? view.subarray(block, end).equals(ZERO_BLOCK)
        : view.subarray(block, end).every((byte) => byte === 0);
    if (isZero) continue;
    const from = Math.max(0, block - margin);
    const to = Math.min(view.length, end + margin);
    const last = ranges[ranges.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else ranges.push([from, to]);
  }
  return ranges;
}

/** One ELF note of a core file: per thread NT_PRSTATUS, NT_FPREGSET, NT_X86_XSTATE…; NT_FILE, NT_AUXV… */
export interface Note {
  /** File offset and size of the note's descriptor (its payload). */
  offset: number;
  bytes: number;
  type: number;
  name: string;
  /** The thread whose NT_PRSTATUS came last before this note (register notes follow it). */
  tid?: number;
  /** x86-64 NT_PRSTATUS only: the thread's stack pointer (which mapping is its stack). */
  stackPointer?: bigint;
}

const NOTE_TYPES: Record<number, string> = {
  1: 'NT_PRSTATUS (general registers)',
  2: 'NT_FPREGSET (SSE registers)',
  3: 'NT_PRPSINFO',
  6: 'NT_AUXV',
  0x202: 'NT_X86_XSTATE (AVX/SSE register state)',
  0x46494c45: 'NT_FILE',
  0x53494749: 'NT_SIGINFO',
};

export function noteTypeName(type: number): string {
  return NOTE_TYPES[type] ?? `note type 0x${type.toString(16)}`;
}

/** The notes of the PT_NOTE segments of a little-endian ELF64 core file. */
export function readNotes(path: string): Note[] {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(64);
    readSync(fd, header, 0, 64, 0);
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    let phnum = header.readUInt16LE(0x38);
    if (phnum === PN_XNUM) {
      const section = Buffer.alloc(64);
      readSync(fd, section, 0, 64, Number(header.readBigUInt64LE(0x28)));
      phnum = section.readUInt32LE(0x2c);
    }
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    const notes: Note[] = [];
    for (let i = 0; i < phnum; i++) {
      const entry = table.subarray(i * phentsize, (i + 1) * phentsize);
      if (entry.readUInt32LE(0) !== PT_NOTE) continue;
      const start = Number(entry.readBigUInt64LE(8));
      const size = Number(entry.readBigUInt64LE(32));
      const data = Buffer.alloc(size);
      readSync(fd, data, 0, size, start);
      let tid: number | undefined;
      for (let at = 0; at + 12 <= size;) {
        const nameBytes = data.readUInt32LE(at);
        const descBytes = data.readUInt32LE(at + 4);
        const type = data.readUInt32LE(at + 8);
        const name = data
          .subarray(at + 12, at + 12 + nameBytes)
          .toString('latin1')
          .replace(/\0+$/, '');
        const descAt = at + 12 + align4(nameBytes);
        // elf_prstatus: siginfo (12), cursig + pad (4), sigpend (8), sighold (8), then pr_pid.
        let stackPointer: bigint | undefined;
        if (type === 1 && name === 'CORE' && descBytes >= 36) {
          tid = data.readInt32LE(descAt + 32);
          // x86-64: pr_reg (user_regs_struct, rsp is its 20th register) starts at byte 112.
          if (process.arch === 'x64' && descBytes >= 112 + 27 * 8)
            stackPointer = data.readBigUInt64LE(descAt + 112 + 19 * 8);
        }
        notes.push({
          offset: start + descAt,
          bytes: descBytes,
          type,
          name,
          tid,
          stackPointer,
        });
        at = descAt + align4(descBytes);
      }
    }
    return notes;
  } finally {
    closeSync(fd);
  }
}

const PT_NOTE = 4;
const align4 = (n: number) => (n + 3) & ~3;

/** The thread whose stack pointer lies in `mapping` (its stack), if any. */
export function stackOwner(
  notes: readonly Note[],
  mapping: Mapping | undefined,
): number | undefined {
  if (!mapping) return undefined;
  return notes.find(
    (note) =>
      note.stackPointer !== undefined &&
      note.stackPointer >= mapping.start &&
      note.stackPointer < mapping.end,
  )?.tid;
}

/** `start-end perms name` of a mapping, for reports. */
export function describeMapping(mapping: Mapping | undefined): string {
  if (!mapping) return '(no mapping)';
  const size = Number(mapping.end - mapping.start);
  const name =
    mapping.name || (mapping.perms.startsWith('rw') ? 'anonymous' : '');
  return `${mapping.start.toString(16)}-${mapping.end.toString(16)} ${mapping.perms} ${name} (${formatBytes(size)})`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
}

/** A plain-text table (for the test's printed report). */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (cell ?? '').padEnd(widths[i]))
      .join(' | ')
      .trimEnd();
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('-|-'),
    ...rows.map(line),
  ].join('\n');
}

/** The gdb version line, for the report. */
export function gdbVersion(): string {
  try {
    return execFileSync('gdb', ['--version'], { encoding: 'utf8' }).split(
      '\n',
    )[0];
  } catch {
    return 'gdb (version unknown)';
  }
}
