import { isDeepStrictEqual } from 'node:util';

/**
 * Where `actual` differs from `expected`, as JSON Pointers with what differs ("changed",
 * "missing", "unexpected"), at most `max` of them and a count of the rest: short enough for a
 * failure message, precise enough to find the change.
 */
export function jsonDifferences(
  expected: unknown,
  actual: unknown,
  max = 20,
): string[] {
  const found: string[] = [];
  const walk = (a: unknown, b: unknown, at: string): void => {
    if (isDeepStrictEqual(a, b)) return;
    if (isObject(a) && isObject(b) && Array.isArray(a) === Array.isArray(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const where = `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        if (!(key in b)) found.push(`missing ${where}`);
        else if (!(key in a)) found.push(`unexpected ${where}`);
        else walk(a[key], b[key], where);
      }
      return;
    }
    found.push(`changed ${at || '/'}`);
  };
  walk(expected, actual, '');
  return found.length > max
    ? [...found.slice(0, max), `… and ${found.length - max} more`]
    : found;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
