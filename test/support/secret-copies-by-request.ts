/**
 * How many copies of a password or recovery code one request type leaves in the server's memory
 * once it has completed (issue 12, item 5), measured apart from every other request: each request
 * type runs alone in a freshly started production build (`node dist/main.js`), which is then dumped
 * with gdb and searched. Sessions live in Redis, so that a request needing a session (password
 * change, key rotation) runs in a process that has seen no login. A measurement, not a test:
 *
 *   npm run build
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
 *     npx ts-node --transpile-only test/support/secret-copies-by-request.ts
 *
 * Prints one table: request type, secret, copies, and what holds each copy.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { AppProcess } from './app-process';
import type {
  RecoveryCodeDto,
  RegisteredDto,
  TokenPairDto,
} from '../../src/auth/dto/auth.dto';
import type { RotatedKeysDto } from '../../src/key-rotation/dto/rotated-keys.dto';
import { bearer } from './auth-client';
import { ensureBuild, startBuiltApp, stopApp } from './built-app';
import { formatTable, Hit, scanFile, takeCoreDump } from './core-dump';
import { bodyOf } from './http-body';
import { MASTER_KEY_FILE } from './process-keys';
import {
  COUNTED,
  CountedSecret,
  describeHolders,
  secretNeedles,
} from './secret-copies';
import { createTestDatabase } from './test-database';

interface Step {
  name: string;
  /** Sends the step's one request; returns the secrets it carried (those of the response too). */
  run(http: () => ReturnType<typeof request>): Promise<CountedSecret[]>;
}

async function main(): Promise<void> {
  if (!process.env.REDIS_URL)
    throw new Error(
      'REDIS_URL is required (sessions must outlive each process)',
    );
  ensureBuild();
  const dir = mkdtempSync(join(tmpdir(), 'secret-copies-'));
  const database = await createTestDatabase();
  const masterKey = randomBytes(32);
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: database.url,
    DATA_DIR: dir,
    LOG_LEVEL: 'info',
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: `secret-copies-${randomBytes(4).toString('hex')}:`,
    ...MASTER_KEY_FILE.provide(masterKey, dir, dir),
  };
  const tag = randomBytes(4).toString('hex');
  const email = `copies-${tag}@example.org`;
  const passwords = [1, 2, 3].map(
    (n) => `Copies passphrase ${n} ${randomBytes(6).toString('hex')}`,
  );
  const password = (n: number): CountedSecret => ({
    name: `password ${n}`,
    text: passwords[n - 1],
    carriedBy: '',
  });
  const code = (name: string, text: string): CountedSecret => ({
    name,
    text,
    carriedBy: '',
    recoveryCode: true,
  });
  let recoveryCode = '';
  let accessToken = '';

  const steps: Step[] = [
    {
      name: 'register',
      async run(http) {
        const response = await http()
          .post('/v1/auth/register')
          .send({
            email,
            password: passwords[0],
            profile: { fullName: 'Copy Counter' },
          });
        if (response.status !== 201)
          throw new Error(`register: ${response.status}`);
        recoveryCode = bodyOf<RegisteredDto>(response).recoveryCode;
        return [password(1), code('recovery code (response)', recoveryCode)];
      },
    },
    {
      name: 'login',
      async run(http) {
        const response = await http()
          .post('/v1/auth/login')
          .send({ email, password: passwords[0] });
        if (response.status !== 200)
          throw new Error(`login: ${response.status}`);
        accessToken = bodyOf<TokenPairDto>(response).accessToken;
        return [password(1)];
      },
    },
    {
      name: 'password change',
      async run(http) {
        const response = await http()
          .post('/v1/auth/password')
          .set(...bearer(accessToken))
          .send({ currentPassword: passwords[0], newPassword: passwords[1] });
        if (response.status !== 204)
          throw new Error(`password change: ${response.status}`);
        return [
          { ...password(1), name: 'password 1 (current)' },
          { ...password(2), name: 'password 2 (new)' },
        ];
      },
    },
    {
      name: 'key rotation',
      async run(http) {
        const response = await http()
          .post('/v1/me/keys/rotate')
          .set(...bearer(accessToken))
          .send({ password: passwords[1] });
        if (response.status !== 200)
          throw new Error(`key rotation: ${response.status}`);
        const used = recoveryCode;
        recoveryCode = bodyOf<RotatedKeysDto>(response).recoveryCode;
        return [
          password(2),
          code('recovery code (old, unused)', used),
          code('recovery code (response)', recoveryCode),
        ];
      },
    },
    {
      name: 'recover',
      async run(http) {
        const used = recoveryCode;
        const response = await http()
          .post('/v1/auth/recover')
          .send({ email, recoveryCode: used, newPassword: passwords[2] });
        if (response.status !== 200)
          throw new Error(`recover: ${response.status}`);
        recoveryCode = bodyOf<RecoveryCodeDto>(response).recoveryCode;
        return [
          code('recovery code (request)', used),
          { ...password(3), name: 'password 3 (new)' },
          code('recovery code (response)', recoveryCode),
        ];
      },
    },
  ];

  const rows: string[][] = [];
  try {
    for (const step of steps) {
      let app: AppProcess | undefined;
      try {
        app = await startBuiltApp(env);
        await app.waitForOutput(/listening on/, 60_000);
        const url = `http://127.0.0.1:${app.port}`;
        const secrets = await step.run(() => request(url));
        // Let the response finish and the process settle, as after any request.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const dump = await takeCoreDump(
          app.child.pid!,
          join(dir, step.name.replace(/\W/g, '-')),
        );
        const needles = secretNeedles(secrets);
        const hits = scanFile(
          dump.path,
          needles,
          dump.segments,
          dump.mappings,
          dump.notes,
        );
        const holders = describeHolders(dump.path, hits);
        rmSync(dump.path, { force: true });
        for (const secret of secrets) {
          const found = hits.filter(
            (hit) => hit.needle.key === `${COUNTED}${secret.name}`,
          );
          rows.push([
            step.name,
            secret.name,
            String(found.length),
            holderSummary(found, holders),
          ]);
        }
      } finally {
        await stopApp(app);
      }
    }
  } finally {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `\n${formatTable(['request', 'secret', 'copies', 'held by (mapping)'], rows)}\n`,
  );
}

function place(hit: Hit): string {
  if (hit.note) return 'registers';
  const m = hit.mapping;
  return m ? m.name || 'anon' : '?';
}

function holderSummary(
  hits: readonly Hit[],
  holders: Map<Hit, string>,
): string {
  const counts = new Map<string, number>();
  for (const hit of hits) {
    const label = `${hit.needle.form === 'as sent' ? '' : `[${hit.needle.form}] `}${holders.get(hit)} (${place(hit)})`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts]
    .map(([label, n]) => (n > 1 ? `${label} ×${n}` : label))
    .join('; ');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  },
);
