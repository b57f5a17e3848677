import { closeSync, openSync, readSync } from 'node:fs';
import type { Hit, Needle } from './core-dump';

/**
 * Copies of secrets that are not keys (passwords, recovery codes, the PKCS#11 PIN) in a core
 * dump, and what holds each copy, told from the bytes around it: the HTTP request as read from
 * the socket, a request or response body (JSON text) in a Buffer or in a V8 string, the value
 * alone as a V8 string, … (issue 12, item 5: counted and printed, not failed on).
 */

/** A secret whose copies are counted, e.g. `password 1`, with the requests that carried it. */
export interface CountedSecret {
  name: string;
  text: string;
  /** Which requests or responses carried it, for the report. */
  carriedBy: string;
  /** Recovery codes: also look for the canonical form (no hyphens) that the KDF takes. */
  recoveryCode?: boolean;
}

export const COUNTED = 'counted: ';

/**
 * Needles for each secret: its UTF-8 bytes (a V8 one-byte string, a Buffer or socket bytes), its
 * lower-case form when different (the password policy compares passwords lower-cased), UTF-16LE
 * (a V8 two-byte string) and, for a recovery code, its canonical form.
 */
export function secretNeedles(secrets: readonly CountedSecret[]): Needle[] {
  const needles: Needle[] = [];
  for (const secret of secrets) {
    const key = `${COUNTED}${secret.name}`;
    needles.push({
      key,
      form: 'as sent',
      bytes: Buffer.from(secret.text, 'utf8'),
    });
    const lower = secret.text.toLowerCase();
    if (lower !== secret.text)
      needles.push({
        key,
        form: 'lower-cased',
        bytes: Buffer.from(lower, 'utf8'),
      });
    if (secret.recoveryCode)
      needles.push({
        key,
        form: 'canonical',
        bytes: Buffer.from(secret.text.replace(/-/g, ''), 'latin1'),
      });
    needles.push({
      key,
      form: 'UTF-16LE',
      bytes: Buffer.from(secret.text, 'utf16le'),
    });
  }
  return needles;
}

const BEFORE = 4096;
const AFTER = 1024;
const REQUEST_LINE = /(GET|POST|PUT|PATCH|DELETE) (\/[!-~]*) HTTP\/1\.1\r\n/g;
const STATUS_LINE = /HTTP\/1\.1 (\d{3})[ -~]*\r\n/g;

/**
 * What holds the copy at `hit`, from up to 4 KiB before it and 1 KiB after:
 * - `V8 string (the value alone)`: a V8 SeqString holding the secret alone (x64 layout: map,
 *   hash, length, characters: the 4 bytes before its first character hold its length);
 * - `HTTP read buffer (latest request there: POST /v1/auth/login)`: Node's HTTP parser's read
 *   buffer, which holds the latest request and what earlier, longer ones left after it;
 * - `HTTP response 201 (raw bytes)`;
 * - `login body (V8 string)`, `register response (V8 string, part)`: the JSON text of a body, or
 *   a piece of one (JSON.stringify builds its output from parts), as a V8 string;
 * - `login body (bytes)`: the JSON text in a Buffer or malloc memory; `… (bytes, freed)` when
 *   its start is overwritten (the allocator's free-list pointers: a freed Buffer's memory);
 * - `other`.
 */
export function describeHolder(fd: number, hit: Hit): string {
  const start = Math.max(0, hit.offset - BEFORE);
  const window = Buffer.alloc(
    hit.offset - start + hit.needle.bytes.length + AFTER,
  );
  const read = readSync(fd, window, 0, window.length, start);
  const at = hit.offset - start;
  const bytes = window.subarray(0, read);
  const length = hit.needle.bytes.length;
  const unit = hit.needle.form === 'UTF-16LE' ? 2 : 1;

  const stored = at >= 4 ? bytes.readInt32LE(at - 4) : -1;
  if (stored === length / unit)
    return `V8 string (the value alone${unit === 2 ? ', two-byte' : ''})`;
  if (unit === 2) return 'other (UTF-16)';
  // JSON.stringify builds its output from pieces: the value and the punctuation after it.
  if (stored > length && stored <= length + 8 && isText(bytes[at + length]))
    return 'V8 string (a piece of JSON.stringify output: the value and what follows it)';

  // The run of text (printable ASCII, CR, LF, tab) around the copy.
  let from = at;
  while (from > 0 && isText(bytes[from - 1])) from--;
  let to = at + length;
  while (to < bytes.length && isText(bytes[to])) to++;
  const before = bytes.subarray(from, at).toString('latin1');
  const text = bytes.subarray(from, to).toString('latin1');

  // Node's HTTP parser reads every request of the process into one 64 KiB buffer: a shorter
  // request leaves the end of a longer earlier one in place, after its own bytes.
  const request = lastMatch(REQUEST_LINE, before);
  if (request)
    return `HTTP read buffer (latest request there: ${request[1]} ${request[2].split('?')[0]})`;
  const response = lastMatch(STATUS_LINE, before);
  if (response) return `HTTP response ${response[1]} (raw bytes)`;
  if (!before.includes('":"')) return 'other';

  const json = before.indexOf('{');
  const kind = bodyKind(text);
  // A V8 string whose characters begin at the run's start (or at its `{`): its length before it.
  for (const first of json === -1 ? [from] : [from + json, from]) {
    const textLength = first >= 4 ? bytes.readInt32LE(first - 4) : -1;
    if (textLength >= at + length - first && textLength <= to - first + 8)
      return `${kind} (V8 string${first === from + json ? '' : ', part'})`;
  }
  return json === -1 ? `${kind} (bytes, freed)` : `${kind} (bytes)`;
}

/** Which JSON body this is, from its keys. */
function bodyKind(body: string): string {
  const has = (key: string) => body.includes(`"${key}"`);
  if (has('currentPassword')) return 'password-change body';
  if (has('recoveryCode') && has('newPassword')) return 'recover body';
  if (has('recoveryCode') && has('userId')) return 'register response';
  if (has('recoveryCode')) return 'new-recovery-code response';
  if (has('profile')) return 'register body';
  if (has('email') && has('password')) return 'login body';
  if (has('password')) return 'password-confirmation body';
  return 'other JSON';
}

function isText(byte: number | undefined): boolean {
  return (
    byte !== undefined &&
    ((byte >= 0x20 && byte < 0x7f) ||
      byte === 0x0a ||
      byte === 0x0d ||
      byte === 0x09)
  );
}

function lastMatch(pattern: RegExp, text: string): RegExpExecArray | undefined {
  let last: RegExpExecArray | undefined;
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text))
    last = match;
  // The headers must have ended before the copy (it is in the body).
  return last && text.indexOf('\r\n\r\n', last.index) !== -1 ? last : undefined;
}

/**
 * Up to `before` bytes before the copy and `after` bytes after it as text (other bytes as `.`),
 * the copy itself shown as «name»: for reading what holds an `other` copy.
 */
export function copyContext(
  fd: number,
  hit: Hit,
  name: string,
  before = 200,
  after = 80,
): string {
  const start = Math.max(0, hit.offset - before);
  const bytes = Buffer.alloc(
    hit.offset - start + hit.needle.bytes.length + after,
  );
  const read = readSync(fd, bytes, 0, bytes.length, start);
  const show = (from: number, to: number) =>
    [...bytes.subarray(from, to)]
      .map((byte) =>
        byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.',
      )
      .join('');
  const at = hit.offset - start;
  return `${show(0, at)}«${name}»${show(at + hit.needle.bytes.length, read)}`;
}

/** `holder` of every hit of a counted needle, reading the dump once. */
export function describeHolders(
  path: string,
  hits: readonly Hit[],
): Map<Hit, string> {
  const holders = new Map<Hit, string>();
  const fd = openSync(path, 'r');
  try {
    for (const hit of hits)
      if (hit.needle.key.startsWith(COUNTED))
        holders.set(hit, describeHolder(fd, hit));
  } finally {
    closeSync(fd);
  }
  return holders;
}
