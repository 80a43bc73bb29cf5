/**
 * Pacing of CPU-bound work. Rows or points already in memory arrive without waiting on I/O, and
 * an async chain that never waits only ever runs microtasks: no timer fires (the request's own
 * deadline's included) and no other request is served until it ends. So every loop that works
 * per row, point or pair reports it here; every `stride` units the clock is read, and once a
 * slice of `sliceMs` is used up the loop gives the event loop a turn (a macrotask, so timers and
 * I/O run) and ends the work if it was aborted or is past its deadline. Pure apart from the
 * clock and `setImmediate`: the SQL engine and query federation share it.
 */
import { EntenteError } from "@entente/protocol";
import { abortReason } from "../deadline.ts";
import { yieldToEventLoop } from "../stream/slice.ts";

export interface PaceSettings {
  /** Work between two turns given to the event loop, in milliseconds. */
  sliceMs: number;
  /** Units of work (rows, row pairs, points) between two reads of the clock. */
  stride: number;
}

export const DEFAULT_PACE: PaceSettings = { sliceMs: 10, stride: 1000 };

export type PaceVerdict = "go on" | "yield" | "stop";

/** What a loop does now: go on, give the event loop a turn, or end the work. */
export function paceVerdict(
  now: number,
  sliceStart: number,
  sliceMs: number,
  deadline: number | undefined,
  aborted: boolean,
): PaceVerdict {
  if (aborted || (deadline !== undefined && now >= deadline)) return "stop";
  return now - sliceStart >= sliceMs ? "yield" : "go on";
}

/**
 * Why work ends early, as the error its caller gets: past its own deadline (the signal still
 * unaborted) it ran out of time; otherwise the runtime's one abort mapping says why.
 */
export function stopReason(signal: AbortSignal): EntenteError {
  if (!signal.aborted) return outOfTime();
  return abortReason(signal, undefined, "the request");
}

function outOfTime(): EntenteError {
  return new EntenteError("DEADLINE_EXCEEDED", "the request ran out of time");
}

/** A signal that never aborts, for work with no caller to go away. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** One piece of work's pace: loops call `due` as they work and `await pause()` when it says so. */
export class Pacer {
  readonly #signal: AbortSignal;
  /** When the work is out of time on `now`'s clock; its signal's timer may fire late. */
  readonly #deadline: number | undefined;
  readonly #settings: PaceSettings;
  readonly #now: () => number;
  #sliceStart: number;
  #untilCheck: number;

  constructor(
    signal: AbortSignal,
    deadline?: number,
    settings: PaceSettings = DEFAULT_PACE,
    now: () => number = () => performance.now(),
  ) {
    this.#signal = signal;
    this.#deadline = deadline;
    this.#settings = settings;
    this.#now = now;
    this.#sliceStart = now();
    this.#untilCheck = settings.stride;
  }

  /** Counts `units` of work; true when the loop must `await pause()` before it goes on. */
  due(units = 1): boolean {
    this.#untilCheck -= units;
    if (this.#untilCheck > 0) return false;
    this.#untilCheck = this.#settings.stride;
    return this.#verdict() !== "go on";
  }

  /** Gives the event loop a turn; throws the reason to stop when the work must end. */
  async pause(): Promise<void> {
    this.check();
    await yieldToEventLoop();
    this.check();
    this.#sliceStart = this.#now();
  }

  /** Throws when the work was aborted or is past its deadline. */
  check(): void {
    if (this.#verdict() === "stop") throw stopReason(this.#signal);
  }

  #verdict(): PaceVerdict {
    return paceVerdict(
      this.#now(),
      this.#sliceStart,
      this.#settings.sliceMs,
      this.#deadline,
      this.#signal.aborted,
    );
  }
}
