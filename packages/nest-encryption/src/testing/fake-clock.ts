/** A settable clock for expiry tests: `now()` is what the vault and its stores read. */
export class FakeClock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}

  readonly now = (): number => this.current;

  advance(ms: number): void {
    this.current += ms;
  }
}
