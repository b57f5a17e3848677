/** KB, MB, GB, TB are powers of 1000 (as `df -H` counts); KiB, MiB, GiB, TiB powers of 1024. */
const UNIT_BYTES: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parses a byte size such as `0`, `4096`, `512KB`, `100MB` or `2GiB` (unit letters in any case)
 * into whole bytes. Returns `undefined` for anything else (a fraction, a space, an unknown unit),
 * so the caller can name the bad variable.
 */
export function parseByteSize(value: string): number | undefined {
  const match = /^(\d{1,15})([a-z]*)$/i.exec(value.trim());
  if (!match) return undefined;
  const unit = UNIT_BYTES[match[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
