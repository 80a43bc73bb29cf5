/**
 * Credit accounting, without I/O. Credit counts batches: the producer spends one per batch and
 * the consumer grants them back as it consumes, so at most `window` batches are ever in flight
 * or waiting unread, whatever the speed of either side.
 */

/** The largest window the wire allows; a producer clamps to its own, smaller maximum. */
export const MAX_CREDIT = 1_000_000;

/**
 * A credit window from a header or an option; anything unusable falls back to the default, and
 * anything larger than `max` is cut to `max` (a requester does not choose the producer's memory).
 */
export function normalizeCredit(value: unknown, fallback: number, max = MAX_CREDIT): number {
  const n = typeof value === "string" ? Number(value.trim()) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) return Math.min(fallback, max);
  return Math.min(n, max);
}

/** The producer's side: batches it may still send, never more than its window. */
export class CreditBalance {
  readonly limit: number;
  #available: number;

  constructor(initial: number, limit = initial) {
    this.limit = limit;
    this.#available = Math.min(initial, limit);
  }

  get available(): number {
    return this.#available;
  }

  /** Spends one batch of credit; false when there is none. */
  tryTake(): boolean {
    if (this.#available < 1) return false;
    this.#available--;
    return true;
  }

  /** Takes credit back; a grant beyond the window is ignored, so the window stays a bound. */
  grant(n: number): void {
    this.#available = Math.min(this.#available + n, this.limit);
  }
}

/**
 * The consumer's side: counts consumed batches and says when to grant them back. Grants go out
 * once half the window is consumed, so a grant message costs one per half window and the
 * producer, refilled before it runs dry, need not pause on a fast consumer.
 */
export class CreditWindow {
  readonly window: number;
  readonly #threshold: number;
  #consumed = 0;

  constructor(window: number) {
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(`credit window must be a positive integer, got ${window}`);
    }
    this.window = window;
    this.#threshold = Math.max(1, Math.floor(window / 2));
  }

  /** Records one consumed batch; returns the credit to grant now (0: not yet). */
  consumed(): number {
    this.#consumed++;
    if (this.#consumed < this.#threshold) return 0;
    const grant = this.#consumed;
    this.#consumed = 0;
    return grant;
  }
}
