/**
 * Statistics and side-by-side scheduling shared by every bench section: variants run
 * interleaved (their order rotating each round) so that machine noise falls on all of them
 * alike, and each is reported by its median, min and max over the rounds.
 */
export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2
      ? sorted[middle]
      : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples };
}

/**
 * Runs every variant once per round, `rounds` times, rotating the order each round, and returns
 * each variant's summary of whatever number its function resolves (a rate, a latency…).
 */
export async function interleave<K extends string>(
  rounds: number,
  variants: Record<K, (round: number) => Promise<number> | number>,
): Promise<Record<K, Summary>> {
  const names = Object.keys(variants) as K[];
  const samples = new Map<K, number[]>(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      samples.get(name)!.push(await variants[name](round));
    }
  }
  return Object.fromEntries(
    names.map((name) => [name, summarize(samples.get(name)!)]),
  ) as Record<K, Summary>;
}

/** `rate` of `summary` ÷ `baseline`, by medians. */
export function ratio(summary: Summary, baseline: Summary): number {
  return summary.median / baseline.median;
}

/** A fixed-width text table: the first row is the header. */
export function renderTable(title: string, rows: string[][]): string {
  const widths = rows[0].map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: string[]) =>
    '  ' +
    row
      .map((cell, column) =>
        column === 0
          ? cell.padEnd(widths[column])
          : cell.padStart(widths[column]),
      )
      .join('   ');
  const rule = '  ' + widths.map((width) => '-'.repeat(width)).join('   ');
  return (
    [`\n${title}`, line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n') +
    '\n'
  );
}

/** median / min / max cells of a summary, with `digits` decimals. */
export function summaryCells(summary: Summary, digits = 0): string[] {
  return [summary.median, summary.min, summary.max].map((value) =>
    value.toFixed(digits),
  );
}
