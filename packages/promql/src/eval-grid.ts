/**
 * The evaluator works as Prometheus' does: each node is evaluated once over a grid of steps
 * and answers a value per step, so a subquery's inner steps or a selector's series are
 * walked once rather than once per outer step.
 */
import type { Series, Vector } from "./values.ts";

/** Evaluation times `start, start + interval, …` up to and including `end`. */
export interface StepGrid {
  start: number;
  end: number;
  /** Always positive; a single-time grid has `start === end`. */
  interval: number;
}

/**
 * A node's value over a grid: a vector or a scalar per step, a string, or a range vector
 * kept as whole series with the window each step sees.
 */
export type GridValue =
  | { type: "vector"; steps: Vector[] }
  | { type: "scalar"; steps: number[] }
  | { type: "string"; value: string }
  | RangeValue;

export interface RangeValue {
  type: "matrix";
  /** Series in time order, stale markers removed. */
  series: Series[];
  /**
   * The same series as read, stale markers possibly still in: consumers that walk each sample
   * anyway can skip the markers themselves instead of paying for `series`' extra pass.
   */
  unfilteredSeries?: Series[];
  rangeMs: number;
  /** The closed window `[end - rangeMs, end]` a step at `ts` sees ends at `windowEnd(ts)`. */
  windowEnd: (ts: number) => number;
  /** Samples counted as held for it (a subquery's; a selector's are counted when read). */
  heldSamples: number;
}

export function stepCount(grid: StepGrid): number {
  return Math.floor((grid.end - grid.start) / grid.interval) + 1;
}

export function stepTime(grid: StepGrid, index: number): number {
  return grid.start + index * grid.interval;
}

/** The single-step grid at a grid's start. */
export function firstStepOf(grid: StepGrid): StepGrid {
  return { start: grid.start, end: grid.start, interval: grid.interval };
}

/** Samples a value holds, for the `maxSamples` count. */
export function pointCount(value: GridValue): number {
  switch (value.type) {
    case "vector": {
      let n = 0;
      for (const step of value.steps) n += step.length;
      return n;
    }
    case "scalar":
      return value.steps.length;
    case "matrix":
      return value.heldSamples;
    case "string":
      return 0;
  }
}
