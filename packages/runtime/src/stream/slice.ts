/**
 * Slices of work. A stream's loop runs on promises that settle as microtasks, which never let
 * timers, sockets or other requests in; so it stops now and then to let the event loop turn.
 */

/** Resolves once the event loop has run its timers and I/O. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Counts units of work, without clocks, and says when a slice is full. */
export class WorkSlice {
  readonly #units: number;
  #done = 0;

  constructor(units: number) {
    if (!Number.isInteger(units) || units < 1) {
      throw new RangeError(`a slice holds at least one unit, got ${units}`);
    }
    this.#units = units;
  }

  /** Records one unit; true when the slice is full, and the next one begins. */
  add(): boolean {
    if (++this.#done < this.#units) return false;
    this.#done = 0;
    return true;
  }

  /** Starts a new slice (the loop has just yielded for another reason). */
  reset(): void {
    this.#done = 0;
  }
}
