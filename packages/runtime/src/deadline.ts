import { EntenteError, HEADERS } from "@entente/protocol";

/**
 * A request's time budget. It travels as the *remaining* milliseconds (not an absolute time),
 * so clocks of different machines never need to agree; each hop turns it into a local deadline.
 */
export class Deadline {
  readonly at: number;

  private constructor(at: number) {
    this.at = at;
  }

  static after(budgetMs: number, now = Date.now()): Deadline {
    return new Deadline(now + Math.max(0, budgetMs));
  }

  /**
   * The deadline a request carries in its `entente-timeout-ms` header, else `defaultMs`; never
   * longer than `maxMs`, so one caller cannot pin a worker forever.
   */
  static fromHeader(
    value: string | undefined,
    { defaultMs, maxMs }: { defaultMs: number; maxMs: number },
    now = Date.now(),
  ): Deadline {
    if (value === undefined || value === "") return Deadline.after(Math.min(defaultMs, maxMs), now);
    const budget = Number(value);
    if (!Number.isFinite(budget)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `header ${HEADERS.timeoutMs} must be a number of milliseconds, got ${JSON.stringify(value)}`,
      );
    }
    return Deadline.after(Math.min(budget, maxMs), now);
  }

  remainingMs(now = Date.now()): number {
    return Math.max(0, this.at - now);
  }

  expired(now = Date.now()): boolean {
    return now >= this.at;
  }

  /** The earlier of this deadline and one `budgetMs` from now. */
  within(budgetMs: number | undefined, now = Date.now()): Deadline {
    if (budgetMs === undefined) return this;
    return now + budgetMs < this.at ? Deadline.after(budgetMs, now) : this;
  }

  /** The header value a downstream request carries: what is left, rounded down. */
  toHeader(now = Date.now()): string {
    return String(Math.floor(this.remainingMs(now)));
  }

  error(what: string): EntenteError {
    return new EntenteError("DEADLINE_EXCEEDED", `${what}: deadline exceeded`);
  }
}
