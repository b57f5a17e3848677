/**
 * `node -r ts-node/register/transpile-only bench/http/support/cpu-profile-summary.ts <file.cpuprofile> [top] [filter] [skipMs]`
 *
 * Summarises a V8 CPU profile (`--cpu-prof`, e.g. the bench server's with
 * BENCH_SERVER_CPU_PROF=<dir>): the top functions by self time and by total (inclusive) time,
 * and self time per package (`node_modules/<package>`, `src/<folder>`, node internals, GC,
 * idle). With `filter`, only the time under functions whose name or file contains it (`''` for
 * all); with `skipMs`, only samples after the first `skipMs` ms (start-up left out).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function main(): void {
  const [file, topArg, filter, skipArg] = process.argv.slice(2);
  const skipUs = (Number(skipArg) || 0) * 1000;
  if (!file)
    throw new Error(
      'usage: cpu-profile-summary.ts <file.cpuprofile> [top] [filter]',
    );
  const top = Number(topArg) || 25;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);

  const selfUs = new Map<number, number>();
  let elapsedUs = 0;
  profile.samples.forEach((id, i) => {
    elapsedUs += profile.timeDeltas[i] ?? 0;
    if (elapsedUs >= skipUs)
      selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });

  const label = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'} ${where}`.trim();
  };
  const ancestry = (id: number) => {
    const chain: ProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      chain.push(byId.get(at)!);
    return chain;
  };
  const matches = (node: ProfileNode) =>
    !filter || label(node).includes(filter);

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const packages = new Map<string, number>();
  let all = 0;
  for (const [id, us] of selfUs) {
    const chain = ancestry(id);
    if (filter && !chain.some(matches)) continue;
    all += us;
    const leaf = byId.get(id)!;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + us);
    packages.set(packageOf(leaf), (packages.get(packageOf(leaf)) ?? 0) + us);
    for (const name of new Set(chain.map(label)))
      total.set(name, (total.get(name) ?? 0) + us);
  }

  const print = (title: string, entries: Map<string, number>) => {
    process.stdout.write(`\n${title}\n`);
    for (const [name, us] of [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)) {
      process.stdout.write(
        `  ${((100 * us) / all).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}\n`,
      );
    }
  };
  process.stdout.write(
    `${file}: ${(all / 1000).toFixed(0)} ms sampled${filter ? ` under "${filter}"` : ''} (profile spans ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms)\n`,
  );
  print('self time by package', packages);
  print('self time by function', self);
  print('total time by function', total);
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const build = url.search(/\/(src|bench)\//);
  return build >= 0 ? url.slice(build + 1) : url.replace(/^file:\/\//, '');
}

function packageOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return `(${functionName || 'native'})`;
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1];
  const own = /\/((?:src|bench)\/[^/]+)/.exec(url);
  if (own) return own[1];
  return url.startsWith('node:') ? 'node internals' : url;
}

main();
