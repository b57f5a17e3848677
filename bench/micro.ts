/**
 * A tiny side-by-side timing helper for micro-benchmarks: variants run interleaved, in several
 * rounds, so machine noise hits all of them alike; each reports its median, min and max.
 */
export interface MicroResult {
  name: string;
  medianNs: number;
  minNs: number;
  maxNs: number;
}

export function compareSideBySide(
  variants: Record<string, () => void>,
  {
    rounds = 7,
    minRoundMs = 200,
  }: { rounds?: number; minRoundMs?: number } = {},
): MicroResult[] {
  const names = Object.keys(variants);
  const samples = new Map<string, number[]>(names.map((name) => [name, []]));
  for (const name of names) timeRound(variants[name], 20); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const name of names)
      samples.get(name)!.push(timeRound(variants[name], minRoundMs));
  }
  return names.map((name) => {
    const sorted = [...samples.get(name)!].sort((a, b) => a - b);
    return {
      name,
      medianNs: sorted[Math.floor(sorted.length / 2)],
      minNs: sorted[0],
      maxNs: sorted[sorted.length - 1],
    };
  });
}

/** ns per call over at least `minMs` of calls. */
function timeRound(fn: () => void, minMs: number): number {
  let calls = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(minMs) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 100; i++) fn();
    calls += 100;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / calls;
}

export function printTable(title: string, results: MicroResult[]): void {
  process.stdout.write(`\n${title}\n`);
  const width = Math.max(...results.map((r) => r.name.length));
  for (const r of results) {
    process.stdout.write(
      `  ${r.name.padEnd(width)}  median ${(r.medianNs / 1000).toFixed(2).padStart(8)} µs   min ${(r.minNs / 1000).toFixed(2)}   max ${(r.maxNs / 1000).toFixed(2)}\n`,
    );
  }
}
