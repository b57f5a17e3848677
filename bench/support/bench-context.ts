/**
 * What every bench section gets: a PostgreSQL server (DATABASE_URL, else the embedded one),
 * throw-away databases on it (dropped at the end), a scratch directory, REDIS_URL when set, and
 * whether this is the `--quick` run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { EmbeddedPostgres } from '@vault-pii/nest-encryption/embedded-postgres';

export interface BenchContext {
  readonly quick: boolean;
  /** A scratch directory removed at the end. */
  readonly scratchDir: string;
  /** Set when REDIS_URL is: sections that can also measure the Redis vault store do. */
  readonly redisUrl?: string;
  /** URL of a new empty database on the bench's PostgreSQL server. */
  createDatabase(prefix: string): Promise<string>;
  /** Progress line on stderr (stdout carries the tables). */
  progress: (message: string) => void;
  /** Runs `cleanup` when the bench ends, before the databases are dropped (e.g. a server shared by sections). */
  onClose(cleanup: () => Promise<void>): void;
}

/** Flat result keys of `bench/results/latest.json` (issue 6): every value is a number. */
export type MetricKey =
  | 'orm.find1000.ratio'
  | 'orm.insert.ratio'
  | 'orm.findOne.ratio'
  | 'orm.find1000.peerRatio'
  | 'http.profile.ratio'
  | 'http.profile.ceilingRatio'
  | 'http.accessKey.ratio'
  | 'http.accessKey.aaRatio'
  | 'login.kdfRatio'
  | 'login.stormP99Ratio'
  | 'docs.encryptMBps'
  | 'docs.decryptMBps'
  | 'docs.rssGrowthMB'
  | 'vault.unwrapMicros'
  | 'vault.bytesPerSession';

export interface SectionResult {
  metrics: Partial<Record<MetricKey, number>>;
  /** Human-readable tables for stdout. */
  report: string;
  /** Extra figures worth keeping in the JSON beside the required keys (e.g. the GCM ratios). */
  extra?: Record<string, number>;
}

export type BenchSection = (context: BenchContext) => Promise<SectionResult>;

export async function openBenchContext(
  quick: boolean,
): Promise<BenchContext & { close(): Promise<void> }> {
  const scratchDir = mkdtempSync(join(tmpdir(), 'vault-pii-bench-'));
  const progress = (message: string) =>
    process.stderr.write(`[bench] ${message}\n`);
  let embedded: EmbeddedPostgres | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    progress('no DATABASE_URL: starting the embedded PostgreSQL');
    embedded = await EmbeddedPostgres.start({
      baseDir: join(scratchDir, 'postgres'),
      database: 'bench',
    });
    serverUrl = embedded.url;
  }
  const created: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  return {
    quick,
    scratchDir,
    redisUrl: process.env.REDIS_URL || undefined,
    progress,
    onClose(cleanup) {
      cleanups.push(cleanup);
    },
    async createDatabase(prefix: string): Promise<string> {
      const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
      await admin(serverUrl, `CREATE DATABASE ${name}`);
      created.push(name);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async close(): Promise<void> {
      for (const cleanup of cleanups.reverse())
        await cleanup().catch((error: unknown) =>
          progress(`cleanup failed: ${(error as Error).message}`),
        );
      for (const name of created)
        await admin(
          serverUrl,
          `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`,
        ).catch(() => undefined);
      await embedded?.stop();
      rmSync(scratchDir, { recursive: true, force: true });
    },
  };
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
