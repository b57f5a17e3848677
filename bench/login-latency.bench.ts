/**
 * `npm run bench:login`: median login latency over HTTP at the configured argon2id cost, beside
 * the raw argon2id call, in one run. Uses DATABASE_URL (a throw-away database is created on its
 * server) or the embedded PostgreSQL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Client } from 'pg';
import { AppModule } from '../src/app.module';
import { configureApp } from '../src/app.setup';
import { loadAppConfig } from '../src/config/app-config';
import { derivePasswordMasterKey, OWASP_MINIMUM_ARGON2_PARAMS } from '../src/crypto/kdf';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';

const LOGINS = 30;

async function main(): Promise<void> {
  const cpu = cpus();
  process.stdout.write(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}\n`);
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-login-'));
  let embedded: EmbeddedPostgres | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    embedded = await EmbeddedPostgres.start({ baseDir: join(dataDir, 'postgres'), database: 'bench' });
    serverUrl = embedded.url;
  }
  const database = `bench_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, `CREATE DATABASE ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;

  const config = loadAppConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    APP_MASTER_KEY: randomBytes(32).toString('base64'),
    DATABASE_URL: url.toString(),
    AUTH_RATE_LIMIT: '1000000',
    LOGIN_FAILURE_LIMIT: '1000000',
  });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { bodyParser: false, logger: false });
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  try {
    const email = `bench.${randomUUID()}@example.org`;
    const password = 'benchmark passphrase 0001';
    await post(`${base}/v1/auth/register`, { email, password }, 201);

    const http: number[] = [];
    const raw: number[] = [];
    const pepper = randomBytes(32);
    for (let i = 0; i < LOGINS; i++) {
      let start = process.hrtime.bigint();
      await post(`${base}/v1/auth/login`, { email, password }, 200);
      http.push(Number(process.hrtime.bigint() - start) / 1e6);
      start = process.hrtime.bigint();
      await derivePasswordMasterKey(password, randomBytes(16), OWASP_MINIMUM_ARGON2_PARAMS, pepper);
      raw.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const p = OWASP_MINIMUM_ARGON2_PARAMS;
    process.stdout.write(
      `argon2id m=${p.memoryKiB} KiB t=${p.iterations} p=${p.parallelism}, ${LOGINS} sequential logins, interleaved:\n` +
        `  POST /v1/auth/login   median ${median(http).toFixed(1)} ms   min ${Math.min(...http).toFixed(1)}   max ${Math.max(...http).toFixed(1)}\n` +
        `  raw argon2id call     median ${median(raw).toFixed(1)} ms   min ${Math.min(...raw).toFixed(1)}   max ${Math.max(...raw).toFixed(1)}\n`,
    );
  } finally {
    await app.close();
    await admin(serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await embedded?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function post(url: string, body: unknown, expected: number): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== expected) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

void main();
