/**
 * The functions with the most self time in a V8 `.cpuprofile` (from `node --cpu-prof`), with
 * their share of all samples, the same grouped by package (`node_modules/<name>`, `src`, node
 * internals…), and the inclusive share of named functions (self plus callees):
 * `npx ts-node --transpile-only bench/orm/top-functions.ts FILE [count] [name,name…]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

function main(): void {
  const [file, count = '25', inclusiveNames = ''] = process.argv.slice(2);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const self = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/work\/main\//, '');
    const name = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + hits);
    byPackage.set(packageOf(url, functionName), (byPackage.get(packageOf(url, functionName)) ?? 0) + hits);
  }
  const print = (title: string, entries: Map<string, number>, limit: number) => {
    process.stdout.write(`${title}\n`);
    for (const [name, hits] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
      process.stdout.write(`  ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${name}\n`);
    }
  };
  print(`self time, ${total} samples`, self, Number(count));
  print('by package', byPackage, 15);
  if (inclusiveNames) print('inclusive', inclusive(profile.nodes, inclusiveNames.split(',')), 50);
}

/** Samples under each named function, counting a sample once however deep it recurses. */
function inclusive(nodes: ProfileNode[], names: string[]): Map<string, number> {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const result = new Map<string, number>(names.map((name) => [name, 0]));
  const walk = (node: ProfileNode, inside: Set<string>) => {
    const name = node.callFrame.functionName;
    const now = names.includes(name) && !inside.has(name) ? new Set([...inside, name]) : inside;
    for (const active of now) result.set(active, result.get(active)! + (node.hitCount ?? 0));
    for (const child of node.children ?? []) walk(byId.get(child)!, now);
  };
  walk(nodes[0], new Set());
  return result;
}

function packageOf(url: string, functionName: string): string {
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1];
  if (url.includes('/work/main/')) return url.replace(/^.*\/work\/main\/([^/]+\/[^/]+).*$/, '$1');
  if (url.startsWith('node:')) return 'node internals';
  return functionName.startsWith('(') ? functionName : 'native / V8';
}

main();
