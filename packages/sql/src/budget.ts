/**
 * The statement's memory budget. Every operator that holds rows (a join's build side, a
 * subquery's result, GROUP BY's groups and DISTINCT-aggregate values, rows to sort, DISTINCT's
 * keys) takes its share from the one budget, so a plan of any depth holds at most what one
 * statement may. Going over ends the statement with TOO_LARGE, naming the operator that asked;
 * an operator gives its share back when it is done.
 */
import { EntenteError } from "@entente/protocol";

export interface MemoryLimits {
  /** Rows held at once by all the statement's operators (`sqlJoin.maxBuildRows`). */
  maxRows: number;
  /** About this many heap bytes held at once, rows, keys and values (`sqlJoin.maxBuildBytes`). */
  maxBytes: number;
}

export interface Held {
  rows: number;
  bytes: number;
}

export type MemoryVerdict = "within" | "too many rows" | "too many bytes";

export function memoryVerdict(held: Held, limits: MemoryLimits): MemoryVerdict {
  if (held.rows > limits.maxRows) return "too many rows";
  if (held.bytes > limits.maxBytes) return "too many bytes";
  return "within";
}

export class StatementMemory {
  readonly limits: MemoryLimits;
  readonly #held: Held = { rows: 0, bytes: 0 };

  constructor(limits: MemoryLimits) {
    this.limits = limits;
  }

  /** What all operators hold now. */
  get held(): Held {
    return { ...this.#held };
  }

  /** A share for one operator; `what` names it in the error when the statement goes over. */
  share(what: string): MemoryShare {
    return new MemoryShare(what, this);
  }

  /** Counts memory an operator takes, or throws TOO_LARGE when the statement would go over. */
  take(share: MemoryShare, rows: number, bytes: number): void {
    this.#held.rows += rows;
    this.#held.bytes += bytes;
    if (memoryVerdict(this.#held, this.limits) === "within") return;
    throw tooLarge(share, this.#held, this.limits);
  }

  /** Whether `rows` and `bytes` more keep the statement within its limits; asked per row. */
  fits(rows: number, bytes: number): boolean {
    return (
      this.#held.rows + rows <= this.limits.maxRows &&
      this.#held.bytes + bytes <= this.limits.maxBytes
    );
  }

  give(rows: number, bytes: number): void {
    this.#held.rows -= rows;
    this.#held.bytes -= bytes;
  }
}

/** What one operator holds of the statement's budget. */
export class MemoryShare {
  readonly what: string;
  readonly #memory: StatementMemory;
  #rows = 0;
  #bytes = 0;

  constructor(what: string, memory: StatementMemory) {
    this.what = what;
    this.#memory = memory;
  }

  get held(): Held {
    return { rows: this.#rows, bytes: this.#bytes };
  }

  /** Whether taking this much more would keep the statement within its limits. */
  fits(rows: number, bytes: number): boolean {
    return this.#memory.fits(rows, bytes);
  }

  /** Takes `rows` rows (keys and values are 0 rows) of about `bytes` heap bytes. */
  take(rows: number, bytes: number): void {
    this.#rows += rows;
    this.#bytes += bytes;
    this.#memory.take(this, rows, bytes);
  }

  /** Gives part back: rows the operator has handed on and no longer holds. */
  give(rows: number, bytes: number): void {
    const back = { rows: Math.min(rows, this.#rows), bytes: Math.min(bytes, this.#bytes) };
    this.#rows -= back.rows;
    this.#bytes -= back.bytes;
    this.#memory.give(back.rows, back.bytes);
  }

  /** Gives everything back; the operator is done with what it held. */
  release(): void {
    this.#memory.give(this.#rows, this.#bytes);
    this.#rows = 0;
    this.#bytes = 0;
  }
}

function tooLarge(share: MemoryShare, held: Held, limits: MemoryLimits): EntenteError {
  const mine = share.held;
  return new EntenteError(
    "TOO_LARGE",
    `${share.what} took the statement over its memory limit: it held ${mine.rows} rows ` +
      `(${size(mine.bytes)}) of the statement's ${held.rows} rows (${size(held.bytes)}); ` +
      `sqlJoin.maxBuildRows ${limits.maxRows} and sqlJoin.maxBuildBytes ${limits.maxBytes} ` +
      "bound the whole statement: add a filter or raise a limit",
    {
      details: {
        operator: share.what,
        rows: held.rows,
        bytes: held.bytes,
        operatorRows: mine.rows,
        operatorBytes: mine.bytes,
        maxBuildRows: limits.maxRows,
        maxBuildBytes: limits.maxBytes,
      },
    },
  );
}

function size(bytes: number): string {
  if (bytes < 1048576) return `~${Math.ceil(bytes / 1024)} KiB`;
  return `~${Math.round(bytes / 1048576)} MiB`;
}
