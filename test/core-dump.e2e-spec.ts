import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { AppProcess } from './support/app-process';
import { bearer } from './support/auth-client';
import { DIST_DIR, ensureBuild, PROJECT_ROOT, startBuiltApp, stopApp } from './support/built-app';
import {
  CoreDump,
  coreDumpUnavailableReason,
  describeMapping,
  formatBytes,
  formatTable,
  gdbVersion,
  Hit,
  Needle,
  noteTypeName,
  scanFile,
  stackOwner,
  takeCoreDump,
} from './support/core-dump';
import {
  AccountSecrets,
  DEVELOPMENT_KEY_FILE,
  MASTER_KEY_FILE,
  masterKeyFileSupported,
  MasterKeySource,
  needlesFor,
  ProcessKey,
  readUserRow,
  serverKeys,
  sessionKey,
  userKeys,
} from './support/process-keys';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { waitUntil } from './support/wait-until';

/**
 * SPEC §1, "Keys in memory" (issue 12): a core dump of the live server reveals no key. The
 * compiled app (`node dist/main.js`, as production runs it) serves a whole account's life over
 * HTTP — register, log in, profile, contacts, a document, a key rotation, a second login — and
 * is then dumped with `gcore` while it runs. The dump is searched for every key that process has
 * held: the master key, each server secret, the user's password-derived keys, every data key
 * version and the keys derived from them, the recovery KEKs and the session keys. None may be
 * there, except the JWT signing key (a node:crypto KeyObject, whose bytes OpenSSL keeps in ordinary
 * memory; documented), which is reported, not failed on.
 *
 * The same scan must find a key held in an ordinary Buffer of a control process, and not one
 * held in `secureAlloc` memory of that process: otherwise a clean result would prove nothing.
 *
 * Copies of the user's password and recovery codes (strings V8 cannot wipe) are counted and
 * printed, not failed on.
 *
 * Without gdb's `gcore` the suite is skipped with a printed reason, unless CI=true, where it fails.
 */

/**
 * How the master key reaches the app. 'auto': `APP_MASTER_KEY_FILE` once the build knows it,
 * else the development key file (which cannot run under NODE_ENV=production).
 * To test the sealed source, put its `MasterKeySource` here.
 */
const MASTER_KEY_SOURCE: MasterKeySource | 'auto' = 'auto';

const unavailable = coreDumpUnavailableReason();
const REQUIRED = process.env.CI === 'true';
if (unavailable) {
  process.stdout.write(
    REQUIRED
      ? `\ncore-dump test: ${unavailable}, and CI=true: failing.\n`
      : `\ncore-dump test: ${unavailable}: SKIPPED (install gdb to run it).\n`,
  );
}
const describeWithGcore = unavailable && !REQUIRED ? describe.skip : describe;

const PASSWORD = `Core dump passphrase ${randomBytes(6).toString('hex')}`;
const TAG = randomBytes(3).toString('hex');
const PROFILE = {
  fullName: `Coralie Dumpster ${TAG}`,
  dateOfBirth: '1979-05-17',
  phone: '+44 20 7946 0123',
  address: `12 Core Lane ${TAG}, Heapford`,
  nationalId: `CD-${TAG}-77`,
};

describeWithGcore('a core dump of the running server holds no key (SPEC §1, issue 12)', () => {
  const dirs: string[] = [];
  let database: TestDatabase | undefined;
  let app: AppProcess | undefined;
  let control: ReturnType<typeof spawn> | undefined;

  const tempDir = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  afterAll(async () => {
    control?.kill('SIGKILL');
    await stopApp(app);
    await database?.drop();
    // Dumps are hundreds of MB and hold the test's secrets: never left behind unless asked for.
    if (!process.env.KEEP_CORE_DUMPS) for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`\nKEEP_CORE_DUMPS: left ${dirs.join(', ')}\n`);
  }, 60_000);

  it('finds no key in a dump of the live server; the same scan finds an ordinary Buffer key in a control process', async () => {
    if (unavailable) throw new Error(`${unavailable} (CI=true: gcore is required)`);
    const started = Date.now();
    const dumpDir = tempDir('e2e-core-dump-');

    // 1. The control: the scan finds a key in ordinary memory, and not one in secureAlloc memory.
    const controlResult = await dumpControlProcess(dumpDir);
    expect(controlResult.ordinaryHits).toBeGreaterThan(0);
    expect(controlResult.secureHits).toBe(0);

    // 2. The server, through a whole account's life over HTTP.
    const build = ensureBuild();
    const source = MASTER_KEY_SOURCE === 'auto' ? (masterKeyFileSupported(DIST_DIR) ? MASTER_KEY_FILE : DEVELOPMENT_KEY_FILE) : MASTER_KEY_SOURCE;
    const masterKey = randomBytes(32);
    const dataDir = tempDir('e2e-core-dump-data-');
    const keyDir = tempDir('e2e-core-dump-key-');
    database = await createTestDatabase();
    app = await startBuiltApp({
      NODE_ENV: source.nodeEnv,
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      ...source.provide(masterKey, keyDir, dataDir),
    });
    await app.waitForOutput(/listening on/, 60_000);
    const url = `http://127.0.0.1:${app.port}`;
    const http = () => request(url);
    const documentsDir = join(dataDir, 'documents');

    const server = serverKeys(masterKey);
    const pepper = server.find((key) => key.label === 'server secret: argon2 pepper')!.bytes;
    const keys: ProcessKey[] = [...server];

    const email = `core.dump-${TAG}@example.org`;
    const registered = await http().post('/v1/auth/register').send({ email, password: PASSWORD, profile: PROFILE });
    expect(registered.status).toBe(201);
    const userId: string = registered.body.userId;
    const account: AccountSecrets = {
      userId,
      password: PASSWORD,
      recoveryCodes: [{ code: registered.body.recoveryCode, salt: (await readUserRow(database.url, userId)).recovery_salt }],
    };

    const first = await http().post('/v1/auth/login').send({ email, password: PASSWORD });
    expect(first.status).toBe(200);
    const tokens1 = first.body as { accessToken: string; refreshToken: string };
    keys.push(sessionKey('session key (first login)', tokens1.accessToken, server.find((k) => k.label === 'server secret: vault key')!.bytes));
    const auth1 = bearer(tokens1.accessToken);

    expect((await http().put('/v1/me/profile').set(...auth1).send(PROFILE)).status).toBe(200);
    expect((await http().get('/v1/me/profile').set(...auth1)).body).toMatchObject({ fullName: PROFILE.fullName });
    for (const n of [1, 2]) {
      const contact = await http()
        .post('/v1/contacts')
        .set(...auth1)
        .send({ fullName: `Contact ${n} ${TAG}`, email: `contact${n}-${TAG}@example.org`, phone: `+44 20 7946 05${n}0`, notes: `note ${n}` });
      expect(contact.status).toBe(201);
    }
    const found = await http().get('/v1/contacts').query({ email: `contact1-${TAG}@example.org` }).set(...auth1);
    expect(found.body.items).toHaveLength(1);
    const document = await http().post('/v1/documents').set(...auth1).send({ kind: 'profile-summary' });
    expect(document.status).toBe(201);
    const pdf = await http().get(`/v1/documents/${document.body.id}/content`).set(...auth1).buffer(true);
    expect(pdf.status).toBe(200);

    // Every key of version 1 (data key, blind-index keys, the file key), before the rotation
    // destroys it.
    keys.push(...(await userKeys(database.url, account, pepper, documentsDir)));

    const rotated = await http().post('/v1/me/keys/rotate').set(...auth1).send({ password: PASSWORD });
    expect(rotated.status).toBe(200);
    account.recoveryCodes.push({ code: rotated.body.recoveryCode, salt: (await readUserRow(database.url, userId)).recovery_salt });
    // Version 2 while both exist (and the re-encrypted file's key), then wait for the job to end.
    keys.push(...(await userKeys(database.url, account, pepper, documentsDir)));
    await waitUntil(
      'the key rotation finished',
      async () => (await http().get('/v1/me').set(...auth1)).body.keyRotation === null,
      { timeoutMs: 60_000, intervalMs: 200, detail: () => app!.output().slice(-3000) },
    );

    const second = await http().post('/v1/auth/login').send({ email, password: PASSWORD });
    expect(second.status).toBe(200);
    const tokens2 = second.body as { accessToken: string; refreshToken: string };
    const vaultKey = server.find((k) => k.label === 'server secret: vault key')!.bytes;
    keys.push(sessionKey('session key (second login)', tokens2.accessToken, vaultKey));
    const auth2 = bearer(tokens2.accessToken);
    expect((await http().patch('/v1/me/profile').set(...auth2).send({ phone: '+44 20 7946 0999' })).status).toBe(200);
    expect((await http().get('/v1/contacts').set(...auth2)).body.items).toHaveLength(2);
    expect((await http().get('/v1/contacts').query({ phone: '+44 20 7946 0520' }).set(...auth2)).body.items).toHaveLength(1);
    expect((await http().get(`/v1/documents/${document.body.id}/content`).set(...auth2).buffer(true)).status).toBe(200);
    const refreshed = await http().post('/v1/auth/refresh').send({ refreshToken: tokens2.refreshToken });
    expect(refreshed.status).toBe(200);
    keys.push(sessionKey('session key (refreshed)', refreshed.body.accessToken, vaultKey));
    expect((await http().get('/v1/me/profile').set(...bearer(refreshed.body.accessToken))).status).toBe(200);
    // Everything the test now knows: both recovery KEKs, version 2's keys after the job.
    keys.push(...(await userKeys(database.url, account, pepper, documentsDir)));

    // 3. Dump the live server and search it.
    const dump = await takeCoreDump(app.child.pid!, join(dumpDir, 'server'));
    const unique = dedupe(keys);
    const needles = needlesFor(unique);
    const secretTexts = countedSecrets(account);
    const scanStarted = Date.now();
    const hits = scanFile(dump.path, [...needles, ...secretTexts], dump.segments, dump.mappings, dump.notes);
    const scanMs = Date.now() - scanStarted;
    const appAlive = app.child.exitCode === null && app.child.signalCode === null;

    const report = describeScan(unique, needles, hits, secretTexts, dump);
    process.stdout.write(
      `\n=== core dump of the server (node dist/main.js, pid ${dump.pid}) ===\n` +
        `build: ${build}; master key source: ${source.name} (NODE_ENV=${source.nodeEnv}); ${gdbVersion()}\n` +
        `dump: ${formatBytes(dump.bytes)} in ${dump.durationMs} ms; ${dump.segments.length} PT_LOAD segments; ` +
        `${dump.mappings.filter((m) => m.dontDump).length} MADV_DONTDUMP mappings (${formatBytes(dump.mappings.filter((m) => m.dontDump).reduce((sum, m) => sum + Number(m.end - m.start), 0))}) left out; scan ${scanMs} ms\n` +
        `control process: ordinary-Buffer key found ${controlResult.ordinaryHits}×, secureAlloc key found ${controlResult.secureHits}× (dump ${formatBytes(controlResult.bytes)})\n\n` +
        `${report.table}\n\n${report.counts}\n${report.details ? `\nwhere the keys were found:\n${report.details}\n` : ''}` +
        `\ntotal ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );

    expect(appAlive).toBe(true);
    expect(report.unexpected).toEqual([]);
  }, 240_000);

  /** Dumps the control process; how often each of its keys shows in the dump. */
  async function dumpControlProcess(dumpDir: string): Promise<{ ordinaryHits: number; secureHits: number; bytes: number }> {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'support', 'core-dump-control.child.ts')], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: join(PROJECT_ROOT, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    control = child;
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
      child.on('exit', (code) => reject(new Error(`control process exited (${code}): ${err}`)));
    });
    const { ordinary, secure } = JSON.parse(line) as { ordinary: string; secure: string };
    try {
      const dump = await takeCoreDump(child.pid!, join(dumpDir, 'control'));
      const needles: Needle[] = [
        { key: 'control: ordinary Buffer', form: 'raw', bytes: Buffer.from(ordinary, 'hex') },
        { key: 'control: secureAlloc', form: 'raw', bytes: Buffer.from(secure, 'hex') },
      ];
      const hits = scanFile(dump.path, needles, dump.segments, dump.mappings, dump.notes);
      rmSync(dump.path, { force: true });
      return {
        ordinaryHits: hits.filter((hit) => hit.needle === needles[0]).length,
        secureHits: hits.filter((hit) => hit.needle === needles[1]).length,
        bytes: dump.bytes,
      };
    } finally {
      child.kill('SIGKILL');
      control = undefined;
    }
  }
});

/** One entry per distinct key (the same key is collected again at each step). */
function dedupe(keys: readonly ProcessKey[]): ProcessKey[] {
  const seen = new Map<string, ProcessKey>();
  for (const key of keys) {
    const id = key.bytes.toString('hex');
    if (!seen.has(id)) seen.set(id, key);
  }
  return [...seen.values()];
}

const COUNTED = 'counted: ';

/** The password and recovery codes in the encodings a string or a request body holds them in. */
function countedSecrets(account: AccountSecrets): Needle[] {
  const needles: Needle[] = [];
  const add = (key: string, text: string) => {
    needles.push({ key: `${COUNTED}${key}`, form: 'latin1/UTF-8', bytes: Buffer.from(text, 'utf8') });
    needles.push({ key: `${COUNTED}${key}`, form: 'UTF-16LE', bytes: Buffer.from(text, 'utf16le') });
  };
  add('password', account.password);
  account.recoveryCodes.forEach(({ code }, i) => {
    add(`recovery code ${i + 1} (as shown)`, code);
    add(`recovery code ${i + 1} (normalised)`, code.replace(/-/g, ''));
  });
  return needles;
}

/** The printed table, the counts of password/recovery-code copies, and the failing hits. */
function describeScan(keys: readonly ProcessKey[], needles: readonly Needle[], hits: readonly Hit[], counted: readonly Needle[], dump: CoreDump) {
  const rows: string[][] = [];
  const unexpected: string[] = [];
  const details: string[] = [];
  for (const key of keys) {
    const forms = needles.filter((needle) => needle.key === key.label);
    const keyHits = hits.filter((hit) => hit.needle.key === key.label);
    const byForm = forms.map((needle) => {
      const n = keyHits.filter((hit) => hit.needle === needle).length;
      return `${needle.form}: ${n}`;
    });
    const whole = keyHits.filter((hit) => !hit.needle.form.includes('half'));
    const status = keyHits.length === 0 ? 'not found' : whole.length > 0 ? 'FOUND' : 'FOUND (partial)';
    const where = [...new Set(keyHits.map((hit) => shortMapping(hit, dump)))].join('; ');
    rows.push([key.label, key.expectedLeak ? `${status} (expected)` : status, byForm.join(', '), where]);
    if (keyHits.length > 0 && !key.expectedLeak) unexpected.push(`${key.label}: ${byForm.join(', ')}`);
    for (const hit of keyHits) {
      details.push(`  ${key.label} [${hit.needle.form}] core offset 0x${hit.offset.toString(16)} → ${describeWhere(hit, dump)}\n    context: ${hit.context}`);
    }
  }
  const counts = formatTable(
    ['copies of', 'form', 'count', 'where'],
    counted.map((needle) => {
      const found = hits.filter((hit) => hit.needle === needle);
      return [needle.key.slice(COUNTED.length), needle.form, String(found.length), summariseMappings(found, dump)];
    }),
  );
  return {
    table: formatTable(['key', 'result', 'hits by form', 'mappings'], rows),
    counts,
    details: details.join('\n'),
    unexpected,
  };
}

/** Where a hit lies: its mapping, or the note (a thread's saved registers) outside every mapping. */
function shortMapping(hit: Hit, dump: CoreDump): string {
  if (hit.note) return `${noteTypeName(hit.note.type).split(' ')[0]} of thread ${threadName(hit.note.tid, dump)}`;
  const m = hit.mapping;
  if (!m) return 'outside any mapping';
  const stackOf = stackOwner(dump.notes, m);
  return `${m.name || (stackOf !== undefined ? `stack of thread ${threadName(stackOf, dump)}` : 'anon')} ${m.perms}${m.dontDump ? ' dd' : ''}`;
}

function describeWhere(hit: Hit, dump: CoreDump): string {
  if (hit.note) return `${noteTypeName(hit.note.type)} note of thread ${threadName(hit.note.tid, dump)} (+${hit.offset - hit.note.offset} in ${hit.note.bytes} B)`;
  const stackOf = stackOwner(dump.notes, hit.mapping);
  return `${hit.address !== undefined ? `0x${hit.address.toString(16)}` : '?'} in ${describeMapping(hit.mapping)}${stackOf !== undefined ? `, the stack of thread ${threadName(stackOf, dump)}` : ''}`;
}

function threadName(tid: number | undefined, dump: CoreDump): string {
  if (tid === undefined) return '?';
  return `${tid} "${dump.threads.get(tid) ?? '?'}"${tid === dump.pid ? ' (main)' : ''}`;
}

function summariseMappings(found: readonly Hit[], dump: CoreDump): string {
  const counts = new Map<string, number>();
  for (const hit of found) counts.set(shortMapping(hit, dump), (counts.get(shortMapping(hit, dump)) ?? 0) + 1);
  return [...counts].map(([where, n]) => `${where} ×${n}`).join('; ');
}
