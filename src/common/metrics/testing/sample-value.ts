import type { Registry } from 'prom-client';

/**
 * For tests: the value of the sample `name` (a metric, or a histogram's `_count`/`_sum`/`_bucket`)
 * whose labels include `labels`, as a scrape would read it now; undefined when there is none.
 */
export async function sampleValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const sample of metric.values as {
      metricName?: string;
      labels: Record<string, string | number>;
      value: number;
    }[]) {
      if ((sample.metricName ?? metric.name) !== name) continue;
      const matches = Object.entries(labels).every(
        ([key, value]) => String(sample.labels[key]) === value,
      );
      if (matches) return sample.value;
    }
  }
  return undefined;
}
