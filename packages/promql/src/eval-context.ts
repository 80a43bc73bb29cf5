/**
 * What one evaluation carries along: its settings, the count of samples it holds (Prometheus'
 * `query.max-samples`) and its turn on the event loop (it yields every few milliseconds and
 * notices an abort when it resumes).
 */
import type { AtModifier, VectorSelector } from "./ast.ts";
import { PromQLError } from "./errors.ts";
import type { Series } from "./values.ts";

export const DEFAULT_LOOKBACK_MS = 5 * 60 * 1000;
export const DEFAULT_MAX_SAMPLES = 50_000_000;
/** Prometheus' default global evaluation interval, the step of a subquery that names none. */
export const DEFAULT_SUBQUERY_STEP_MS = 60 * 1000;
/** How long evaluation may run before it lets other work on the event loop run. */
const SLICE_MS = 10;

export interface EvalSettings {
  lookbackMs: number;
  maxSamples: number;
  defaultSubqueryStepMs: number;
  /** The query's own start and end, what `@ start()` and `@ end()` stand for. */
  queryStart: number;
  queryEnd: number;
  signal: AbortSignal | undefined;
  reads: ReadonlyMap<VectorSelector, Series[]>;
  externals: ReadonlyMap<string, Series[]>;
}

export class EvalContext {
  readonly settings: EvalSettings;
  private heldSamples = 0;
  private sliceStart = performance.now();

  constructor(settings: EvalSettings) {
    this.settings = settings;
  }

  /** Resolves an `@` modifier to milliseconds; undefined without one. */
  atTime(at: AtModifier | undefined): number | undefined {
    if (at === undefined) return undefined;
    switch (at.kind) {
      case "time":
        return at.ms;
      case "start":
        return this.settings.queryStart;
      case "end":
        return this.settings.queryEnd;
    }
  }

  /** The selector's series as read before evaluation (none when it was not read). */
  seriesOf(selector: VectorSelector): Series[] {
    return this.settings.reads.get(selector) ?? [];
  }

  /** Counts samples now held; more than the limit fails the query. */
  hold(count: number): void {
    this.heldSamples += count;
    if (this.heldSamples > this.settings.maxSamples) {
      throw new PromQLError(
        "execution",
        "query processing would load too many samples into memory in query execution",
      );
    }
  }

  /** A grid of this many steps would be held at once: more than the limit fails the query. */
  checkSteps(steps: number): void {
    if (steps > this.settings.maxSamples) {
      throw new PromQLError(
        "execution",
        `query processing would load too many samples into memory in query execution: a subquery of ${steps} steps`,
      );
    }
  }

  release(count: number): void {
    this.heldSamples -= count;
  }

  /** True when the current slice of work has run long enough to give way. */
  shouldYield(): boolean {
    return performance.now() - this.sliceStart >= SLICE_MS;
  }

  /** Lets other tasks run, then fails if the query was aborted meanwhile. */
  async yieldTurn(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
    this.throwIfAborted();
  }

  throwIfAborted(): void {
    const signal = this.settings.signal;
    if (signal?.aborted) throw abortError(signal.reason);
  }
}

/** The error an aborted query ends with: a timeout when the reason says so, else canceled. */
export function abortError(reason: unknown): PromQLError {
  if (reason instanceof PromQLError && (reason.kind === "timeout" || reason.kind === "canceled")) {
    return reason;
  }
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new PromQLError("timeout", "query timed out in query execution");
  }
  return new PromQLError("canceled", "query was canceled in query execution");
}
