/**
 * Step-wise views of grid values: a value at one step, and per-step vectors gathered back into
 * series.
 */
import type { Expr } from "./ast.ts";
import { executionError } from "./errors.ts";
import type { EvalContext } from "./eval-context.ts";
import { type GridValue, type StepGrid, stepTime } from "./eval-grid.ts";
import { keyOfLabels } from "./eval-labels.ts";
import { windowOf } from "./eval-selectors.ts";
import { firstAtOrAfter } from "./eval-windows.ts";
import { isStaleNaN, type Labels, type Series, type Value, type Vector } from "./values.ts";

export const DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset";

export function unwrapParens(expr: Expr): Expr {
  let node = expr;
  while (node.type === "paren") node = node.expr;
  return node;
}

/** The value a node has at one step, a range vector as the windows that step sees. */
export function valueAtStep(value: GridValue, index: number, ts: number): Value {
  switch (value.type) {
    case "vector":
      return { type: "vector", value: value.steps[index] ?? [] };
    case "scalar":
      return { type: "scalar", t: ts, v: value.steps[index] ?? Number.NaN };
    case "string":
      return { type: "string", t: ts, v: value.value };
    case "matrix":
      return { type: "matrix", value: windowOf(value.series, value.windowEnd(ts), value.rangeMs) };
  }
}

export function paramAtStep(
  param: GridValue | undefined,
  index: number,
): number | string | undefined {
  if (param === undefined) return undefined;
  if (param.type === "string") return param.value;
  if (param.type === "scalar") return param.steps[index] ?? Number.NaN;
  throw executionError(`aggregation parameter must be a scalar or a string, got ${param.type}`);
}

export function asVector(value: Value): Vector {
  if (value.type === "vector") return value.value;
  throw executionError(`a range function answered a ${value.type}`);
}

export function assertUniqueLabelSets(vector: Vector): void {
  if (vector.length < 2) return;
  const seen = new Set<string>();
  for (const sample of vector) {
    const key = keyOfLabels(sample.labels);
    if (seen.has(key)) throw executionError(DUPLICATE_LABELSET);
    seen.add(key);
  }
}

/** The value of a series' sample at exactly `ts`, if it has one. */
export function sampleAt(series: Series, ts: number): number | undefined {
  const sample = series.samples[firstAtOrAfter(series.samples, ts)];
  return sample !== undefined && sample.t === ts ? sample.v : undefined;
}

/** A grid value as series, one per label set, in the order they first appear. */
export async function seriesOverSteps(
  ctx: EvalContext,
  value: GridValue,
  grid: StepGrid,
): Promise<Series[]> {
  if (value.type === "scalar") {
    return [
      {
        labels: {},
        samples: value.steps.map((v, i) => ({ t: stepTime(grid, i), v })),
      },
    ];
  }
  if (value.type !== "vector") throw executionError(`cannot make series of a ${value.type}`);
  const byKey = new Map<string, Series>();
  // The same labels object recurs at every step, so most look-ups need no key.
  const byObject = new Map<Labels, Series>();
  for (let i = 0; i < value.steps.length; i++) {
    const ts = stepTime(grid, i);
    const vector = value.steps[i] ?? [];
    for (const sample of vector) {
      if (isStaleNaN(sample.v)) continue;
      let series = byObject.get(sample.labels);
      if (series === undefined) {
        const key = keyOfLabels(sample.labels);
        series = byKey.get(key);
        if (series === undefined) {
          series = { labels: sample.labels, samples: [] };
          byKey.set(key, series);
        }
        byObject.set(sample.labels, series);
      }
      series.samples.push({ t: ts, v: sample.v });
    }
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return [...byKey.values()];
}
