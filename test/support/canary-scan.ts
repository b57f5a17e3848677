import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { DataSource } from 'typeorm';

/**
 * A secret or PII value to hunt for, with the encodings it could hide in: the text itself
 * (matched case-insensitively), and optionally raw bytes (matched as hex anywhere).
 */
export interface Canary {
  label: string;
  text: string[];
  bytes?: Buffer[];
}

/** One searchable snapshot of a place (a table, a Redis key, a log line, a file). */
export interface Dump {
  where: string;
  /** Lower-cased text views of the content (UTF-8, latin1, JSON…). */
  text: string[];
  /** Lower-case hex of every binary value in it. */
  hex: string[];
}

export interface Finding {
  canary: string;
  where: string;
  how: 'text' | 'hex';
}

/** Every (canary, place) pair where a canary shows, in any of its encodings. */
export function findCanaries(
  canaries: readonly Canary[],
  dumps: readonly Dump[],
): Finding[] {
  const findings: Finding[] = [];
  for (const canary of canaries) {
    const texts = canary.text
      .filter((value) => value.length >= 4)
      .map((value) => value.toLowerCase());
    const hexes = [
      ...texts.map((value) => Buffer.from(value, 'utf8').toString('hex')),
      ...canary.text.map((value) => Buffer.from(value, 'utf8').toString('hex')),
      ...(canary.bytes ?? []).map((bytes) => bytes.toString('hex')),
    ].filter((hex) => hex.length >= 8);
    for (const dump of dumps) {
      if (
        texts.some((value) => dump.text.some((text) => text.includes(value)))
      ) {
        findings.push({ canary: canary.label, where: dump.where, how: 'text' });
      } else if (hexes.some((hex) => dump.hex.some((h) => h.includes(hex)))) {
        findings.push({ canary: canary.label, where: dump.where, how: 'hex' });
      }
    }
  }
  return findings;
}

/** Text and hex views of any value a driver returns (Buffers become all three encodings). */
function views(value: unknown, text: string[], hex: string[]): void {
  if (value === null || value === undefined) return;
  if (Buffer.isBuffer(value)) {
    text.push(
      value.toString('utf8').toLowerCase(),
      value.toString('latin1').toLowerCase(),
    );
    hex.push(value.toString('hex'));
    return;
  }
  if (value instanceof Date) {
    text.push(value.toISOString().toLowerCase());
    return;
  }
  if (typeof value === 'object') {
    text.push(JSON.stringify(value).toLowerCase());
    for (const inner of Object.values(value as Record<string, unknown>))
      views(inner, text, hex);
    return;
  }
  if (
    typeof value !== 'string' &&
    typeof value !== 'number' &&
    typeof value !== 'boolean' &&
    typeof value !== 'bigint'
  ) {
    throw new Error(`no text view of a ${typeof value}`);
  }
  text.push(String(value).toLowerCase());
}

/** Every row of every table of the public schema, bytea as UTF-8, latin1 and hex. */
export async function dumpDatabase(
  dataSource: DataSource,
): Promise<{ dumps: Dump[]; rowCounts: Record<string, number> }> {
  const tables: { table_name: string }[] = await dataSource.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const dumps: Dump[] = [];
  const rowCounts: Record<string, number> = {};
  for (const { table_name: table } of tables) {
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT * FROM "public"."${table.replace(/"/g, '""')}"`,
    );
    // The server's own hex rendering of every bytea too, in case a driver decoded one differently.
    const hexRows: { row: string }[] = await dataSource.query(
      `SELECT row_to_json(t)::text AS row FROM "public"."${table.replace(/"/g, '""')}" t`,
    );
    rowCounts[table] = rows.length;
    rows.forEach((row, index) => {
      const text: string[] = [];
      const hex: string[] = [];
      for (const [column, value] of Object.entries(row)) {
        views(value, text, hex);
        text.push(column.toLowerCase());
      }
      const rendered = hexRows[index]?.row ?? '';
      text.push(rendered.toLowerCase());
      for (const match of rendered.matchAll(/\\\\x([0-9a-f]+)/gi))
        hex.push(match[1].toLowerCase());
      dumps.push({ where: `db:${table}#${index}`, text, hex });
    });
  }
  return { dumps, rowCounts };
}

/** Every key of the Redis database (names and values, whatever their type). */
export async function dumpRedis(
  redis: Redis,
): Promise<{ dumps: Dump[]; keys: string[] }> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  const dumps: Dump[] = [];
  for (const key of keys) {
    const type = await redis.type(key);
    const values: Buffer[] = [];
    if (type === 'string') {
      const value = await redis.getBuffer(key);
      if (value) values.push(value);
    } else if (type === 'hash') {
      const hash = await redis.hgetallBuffer(key);
      for (const [field, value] of Object.entries(hash))
        values.push(Buffer.from(field), value);
    } else if (type === 'set') {
      values.push(...(await redis.smembersBuffer(key)));
    } else if (type === 'zset') {
      values.push(...(await redis.zrangeBuffer(key, 0, -1, 'WITHSCORES')));
    } else if (type === 'list') {
      values.push(...(await redis.lrangeBuffer(key, 0, -1)));
    }
    const text: string[] = [key.toLowerCase()];
    const hex: string[] = [Buffer.from(key).toString('hex')];
    for (const value of values) views(value, text, hex);
    dumps.push({ where: `redis:${key} (${type})`, text, hex });
  }
  return { dumps, keys };
}

/** Every file under `dir` (DATA_DIR: documents, keys…), as text and hex. */
export function dumpFiles(dir: string): Dump[] {
  const dumps: Dump[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const content = readFileSync(full);
        dumps.push({
          where: `file:${full}`,
          text: [
            content.toString('utf8').toLowerCase(),
            content.toString('latin1').toLowerCase(),
          ],
          hex: [content.toString('hex')],
        });
      }
    }
  };
  walk(dir);
  return dumps;
}

/** Log lines (already parsed JSON) as dumps. */
export function dumpLogs(logs: readonly Record<string, unknown>[]): Dump[] {
  return logs.map((line, index) => {
    const text = JSON.stringify(line);
    return {
      where: `log#${index} ${typeof line.msg === 'string' ? line.msg.slice(0, 60) : ''}`,
      text: [text.toLowerCase()],
      hex: [],
    };
  });
}
