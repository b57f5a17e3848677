/** Where progress goes: standard error, usually. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  /** Milliseconds, for throttling; default `Date.now`. */
  now?: () => number;
  /** Between two lines when the stream is not a terminal; default 2 s. */
  lineIntervalMs?: number;
}

const BAR_WIDTH = 24;
/** A terminal is redrawn at most this often: drawing costs more than a chunk on a fast scan. */
const REDRAW_INTERVAL_MS = 100;
const CLEAR_TO_END = '\u001b[K';

/**
 * A progress line without dependencies. On a terminal, one line redrawn in place (`\r`), with a
 * bar when the total is known; elsewhere (a log, CI), a plain line at most every `lineIntervalMs`,
 * so a long scan shows it is alive without flooding the log.
 */
export class ProgressBar {
  private readonly now: () => number;
  private readonly lineIntervalMs: number;
  private lastWrite = Number.NEGATIVE_INFINITY;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    options: ProgressBarOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.lineIntervalMs = options.lineIntervalMs ?? 2000;
  }

  /** `done` of `total` (when known) for `label`; drawn unless it was drawn very recently. */
  update(label: string, done: number, total?: number): void {
    const now = this.now();
    const interval = this.stream.isTTY
      ? REDRAW_INTERVAL_MS
      : this.lineIntervalMs;
    if (now - this.lastWrite < interval) return;
    this.lastWrite = now;
    const text = progressText(label, done, total);
    if (this.stream.isTTY) {
      // A pseudo-terminal may report 0 columns.
      const width = this.stream.columns || 80;
      this.stream.write(
        `\r${text.slice(0, Math.max(width - 1, 1))}${CLEAR_TO_END}`,
      );
      this.drawn = true;
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** Clears a terminal's line, so what follows starts clean; nothing to do elsewhere. */
  finish(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write(`\r${CLEAR_TO_END}`);
    this.drawn = false;
    this.lastWrite = Number.NEGATIVE_INFINITY;
  }
}

/** `label [#####-----] 12 000 of ~50 000 rows (24%)`; without a total, the count alone. */
export function progressText(
  label: string,
  done: number,
  total?: number,
): string {
  const count = done.toLocaleString('en-US');
  if (total === undefined || total <= 0) return `${label}: ${count} rows`;
  // An estimate can be below the rows already seen.
  const fraction = Math.min(done / total, 1);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
  return `${label} [${bar}] ${count} of ~${total.toLocaleString('en-US')} rows (${Math.floor(fraction * 100)}%)`;
}
