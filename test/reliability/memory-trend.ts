/** One reading of the soak: the app's resident set, and its V8 heap in use (from its metrics). */
export interface MemorySample {
  seconds: number;
  rssMiB: number;
  heapUsedMiB: number;
}

/** Which reading a verdict is about. */
export type MemoryMeasure = 'rssMiB' | 'heapUsedMiB';

export interface MemoryVerdict {
  /** Median RSS over the first third after warm-up: where the process settled. */
  plateauMiB: number;
  /** Median of the last three samples. */
  finalMiB: number;
  /** Least-squares slope over the second half of the run, MiB per minute. */
  slopeMiBPerMinute: number;
  growing: boolean;
}

/**
 * Does memory keep growing after warm-up? Both must hold to say yes, because each alone is noise:
 * a slope over the second half of the run above `maxSlope` MiB/min (a heap that grows and is
 * collected saw-tooths, but its fit stays flat), AND a final RSS above the post-warm-up plateau by
 * more than `maxGrowth` MiB (a slope that is only a late GC cycle's ramp ends close to the
 * plateau). Medians keep one outlying sample from deciding either. The warm-up (caches, JIT,
 * pools and the allocator's arenas filling), the first `warmUpFraction` of the run but at least
 * `minWarmUpSeconds`, is left out of the plateau. With `floorWindowSeconds`, each reading is first
 * replaced by the lowest of that many seconds up to it (see `floorOf`): for the heap in use.
 */
export function judgeMemory(
  samples: MemorySample[],
  measure: MemoryMeasure,
  {
    warmUpFraction = 0.25,
    minWarmUpSeconds = 60,
    maxSlope = 3,
    maxGrowth = 32,
    floorWindowSeconds = 0,
  } = {},
): MemoryVerdict {
  if (floorWindowSeconds > 0)
    samples = floorOf(samples, measure, floorWindowSeconds);
  const duration = samples.length ? samples[samples.length - 1].seconds : 0;
  const warmUp = Math.max(duration * warmUpFraction, minWarmUpSeconds);
  const settled = samples.filter((s) => s.seconds >= warmUp);
  const firstThird = settled.slice(
    0,
    Math.max(1, Math.floor(settled.length / 3)),
  );
  const secondHalf = samples.slice(Math.floor(samples.length / 2));
  const plateauMiB = median(firstThird.map((s) => s[measure]));
  const finalMiB = median(samples.slice(-3).map((s) => s[measure]));
  const slopeMiBPerMinute = slope(secondHalf, measure) * 60;
  return {
    plateauMiB: round(plateauMiB),
    finalMiB: round(finalMiB),
    slopeMiBPerMinute: round(slopeMiBPerMinute),
    growing: slopeMiBPerMinute > maxSlope && finalMiB - plateauMiB > maxGrowth,
  };
}

/**
 * Each sample's reading replaced by the lowest one of the `window` seconds up to it: a heap's
 * floor, where it drops to after each collection. The heap in use saw-tooths by a hundred MiB and
 * more between collections, so three samples can all land on a peak; a leak raises the floor.
 */
function floorOf(
  samples: MemorySample[],
  measure: MemoryMeasure,
  window: number,
): MemorySample[] {
  return samples.map((sample) => ({
    ...sample,
    [measure]: Math.min(
      ...samples
        .filter(
          (s) =>
            s.seconds <= sample.seconds && s.seconds > sample.seconds - window,
        )
        .map((s) => s[measure]),
    ),
  }));
}

function slope(samples: MemorySample[], measure: MemoryMeasure): number {
  const n = samples.length;
  if (n < 2) return 0;
  const meanX = samples.reduce((sum, s) => sum + s.seconds, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + s[measure], 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (const s of samples) {
    numerator += (s.seconds - meanX) * (s[measure] - meanY);
    denominator += (s.seconds - meanX) ** 2;
  }
  return denominator ? numerator / denominator : 0;
}

function median(values: number[]): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The curves as text: one line per sample, RSS and heap, a bar (RSS) scaled to the largest. */
export function drawCurve(samples: MemorySample[]): string {
  const top = Math.max(...samples.map((s) => s.rssMiB), 1);
  return samples
    .map(
      (s) =>
        `${String(Math.round(s.seconds)).padStart(5)} s  rss ${s.rssMiB.toFixed(0).padStart(5)} MiB  heap ${s.heapUsedMiB.toFixed(0).padStart(4)} MiB ${'#'.repeat(Math.round((s.rssMiB / top) * 50))}`,
    )
    .join('\n');
}
