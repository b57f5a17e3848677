/**
 * `npm run bench [-- --quick] [-- --only=orm,http,login,docs,docstorm,vault]`: the side-by-side
 * benchmarks of issue 6 / docs/benchmarks.md#targets in one process run. Prints a table per section
 * and writes `bench/results/latest.json` (a flat object of the ratio and figure names, plus
 * `machine` and `timestamp`). Not part of `npm test`. Method and latest numbers:
 * docs/benchmarks.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  BenchSection,
  MetricKey,
  openBenchContext,
} from './support/bench-context';

const SECTIONS: Record<string, () => Promise<BenchSection>> = {
  orm: async () => (await import('./orm/orm.bench')).runOrmBench,
  http: async () => (await import('./http/http.bench')).runHttpBench,
  login: async () => (await import('./http/login.bench')).runLoginBench,
  docs: async () => (await import('./docs/documents.bench')).runDocumentsBench,
  docstorm: async () =>
    (await import('./docs/document-storm.bench')).runDocumentStormBench,
  vault: async () => (await import('./vault/vault.bench')).runVaultBench,
};

const REQUIRED_KEYS: MetricKey[] = [
  'orm.find1000.ratio',
  'orm.insert.ratio',
  'orm.findOne.ratio',
  'orm.find1000.peerRatio',
  'http.profile.ratio',
  'http.profile.ceilingRatio',
  'http.accessKey.ratio',
  'http.accessKey.aaRatio',
  'login.kdfRatio',
  'login.stormP99Ratio',
  'docs.encryptMBps',
  'docs.decryptMBps',
  'docs.rssGrowthMB',
  'vault.unwrapMicros',
  'vault.bytesPerSession',
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const only = args
    .find((arg) => arg.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const names = only ?? Object.keys(SECTIONS);
  for (const name of names)
    if (!SECTIONS[name])
      throw new Error(
        `unknown bench section "${name}" (have ${Object.keys(SECTIONS).join(', ')})`,
      );

  const cpu = cpus();
  const machine = `${cpu[0]?.model?.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}-${process.arch}`;
  const startedAt = Date.now();
  process.stdout.write(
    `vault-pii bench${quick ? ' (--quick)' : ''}\nmachine: ${machine}\n`,
  );

  const context = await openBenchContext(quick);
  const metrics: Record<string, number> = {};
  const extra: Record<string, number> = {};
  try {
    for (const name of names) {
      context.progress(`section ${name}`);
      const sectionStart = Date.now();
      const result = await (await SECTIONS[name]())(context);
      Object.assign(metrics, result.metrics);
      for (const [key, value] of Object.entries(result.extra ?? {}))
        extra[key] = value;
      process.stdout.write(result.report);
      context.progress(
        `section ${name} took ${((Date.now() - sectionStart) / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    await context.close();
  }

  const missing = only
    ? []
    : REQUIRED_KEYS.filter(
        (key) =>
          typeof metrics[key] !== 'number' || !Number.isFinite(metrics[key]),
      );
  const output = {
    ...Object.fromEntries(
      REQUIRED_KEYS.filter((key) => key in metrics).map((key) => [
        key,
        round(metrics[key]),
      ]),
    ),
    ...Object.fromEntries(
      Object.entries(extra).map(([key, value]) => [key, round(value)]),
    ),
    machine,
    timestamp: new Date().toISOString(),
    quick,
    durationSeconds: round((Date.now() - startedAt) / 1000),
  };
  const resultsDir = join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, only ? 'partial.json' : 'latest.json');
  writeFileSync(file, JSON.stringify(output, null, 2) + '\n');
  process.stdout.write(
    `\nwrote ${file} (${((Date.now() - startedAt) / 1000).toFixed(1)} s)\n`,
  );
  if (missing.length > 0) {
    process.stderr.write(`missing results: ${missing.join(', ')}\n`);
    process.exitCode = 1;
  }
}

function round(value: number): number {
  return Number(value.toPrecision(4));
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
