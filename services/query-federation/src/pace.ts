/**
 * Pacing of the worker's loops over rows, points and partials. Rows from an embedded database
 * and points already in memory arrive without waiting on I/O, and a loop that never waits
 * holds the event loop: no timer fires (the query's own deadline's included) and no other
 * request is served until it ends. So every such loop reports its work here; every `stride`
 * units the clock is read, and once a slice of `sliceMs` is used up the loop gives the event
 * loop a turn (a macrotask, so timers and I/O run) and ends the query when it was aborted or
 * is past its deadline.
 */
import { EntenteError } from "@entente/protocol";

export interface PaceSettings {
  /** Work between two turns given to the event loop, in milliseconds. */
  sliceMs: number;
  /** Units of work (rows, points, partials) between two reads of the clock. */
  stride: number;
}

export const DEFAULT_PACE: PaceSettings = { sliceMs: 10, stride: 1000 };

/** A macrotask: timers, I/O and other requests run before the caller goes on. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Why a query's loop ends early, as the error its caller gets. */
export function stopReason(signal: AbortSignal): EntenteError {
  if (!signal.aborted) return new EntenteError("DEADLINE_EXCEEDED", "the query ran out of time");
  const reason: unknown = signal.reason;
  if (reason instanceof EntenteError) return reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return new EntenteError("DEADLINE_EXCEEDED", "the query ran out of time");
  }
  return new EntenteError("CANCELLED", "the query was cancelled");
}

/** One loop's pace: call `due` as work is done and `await pause()` when it says so. */
export class Pacer {
  readonly #signal: AbortSignal;
  /** When the work is out of time on `now`'s clock; the signal's own timer may fire late. */
  readonly #deadlineAt: number | undefined;
  readonly #now: () => number;
  readonly #settings: PaceSettings;
  #sliceStart: number;
  #untilCheck: number;

  constructor(
    signal: AbortSignal,
    deadlineAt?: number,
    now: () => number = () => performance.now(),
    settings: PaceSettings = DEFAULT_PACE,
  ) {
    this.#signal = signal;
    this.#deadlineAt = deadlineAt;
    this.#now = now;
    this.#settings = settings;
    this.#sliceStart = now();
    this.#untilCheck = settings.stride;
  }

  /** Counts `units` of work; true when the loop must `await pause()` before it goes on. */
  due(units = 1): boolean {
    this.#untilCheck -= units;
    if (this.#untilCheck > 0) return false;
    this.#untilCheck = this.#settings.stride;
    return this.#stopped() || this.#now() - this.#sliceStart >= this.#settings.sliceMs;
  }

  /** Gives the event loop a turn; throws why the work must end when it must. */
  async pause(): Promise<void> {
    this.check();
    await yieldToEventLoop();
    this.check();
    this.#sliceStart = this.#now();
  }

  /** Throws when the work was aborted or is past its deadline. */
  check(): void {
    if (this.#stopped()) throw stopReason(this.#signal);
  }

  #stopped(): boolean {
    return (
      this.#signal.aborted || (this.#deadlineAt !== undefined && this.#now() >= this.#deadlineAt)
    );
  }
}

/** A signal that never aborts, for work with no caller to go away. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;
