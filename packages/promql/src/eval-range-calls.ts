/**
 * Functions over a range vector, applied as Prometheus 2.42 applies them: series by series,
 * each step seeing the series' samples in its window, a series with an empty window skipped.
 * Because each output series comes from one input series, two input series answering the same
 * label set fail the query even at different steps. `absent_over_time` instead sees every
 * window of a step at once, since it answers for their absence.
 */
import type { FunctionCall } from "./ast.ts";
import { executionError } from "./errors.ts";
import { ColumnPool, type ColumnSeries, type ColumnsValue } from "./eval-columns.ts";
import type { EvalContext } from "./eval-context.ts";
import {
  type GridValue,
  type RangeValue,
  type StepGrid,
  stepCount,
  stepTime,
} from "./eval-grid.ts";
import { keyOfLabels, withoutMetricName } from "./eval-labels.ts";
import { asVector, DUPLICATE_LABELSET, valueAtStep } from "./eval-steps.ts";
import { SpanColumns, samplesBetween } from "./eval-windows.ts";
import { callFunction } from "./functions.ts";
import { RANGE_FUNCTIONS, type RangeWindow } from "./functions-range.ts";
import type { Series, Value, Vector } from "./values.ts";

export async function callOverRanges(
  ctx: EvalContext,
  node: FunctionCall,
  args: GridValue[],
  rangeIndex: number,
  grid: StepGrid,
): Promise<GridValue | ColumnsValue> {
  if (node.name === "absent_over_time")
    return callOverAllWindows(ctx, node, args, rangeIndex, grid);
  const fn = RANGE_FUNCTIONS[node.name];
  if (fn === undefined) throw executionError(`unknown range function ${node.name}`);
  const range = args[rangeIndex] as RangeValue;
  const stepTotal = stepCount(grid);
  const out: ColumnsValue = { type: "columns", series: [], steps: stepTotal };
  const pool = new ColumnPool(stepTotal);
  const stepTimes = new Float64Array(stepTotal);
  const windowEnds = new Float64Array(stepTotal);
  for (let i = 0; i < stepTotal; i++) {
    stepTimes[i] = stepTime(grid, i);
    windowEnds[i] = range.windowEnd(stepTimes[i] as number);
  }
  const scalarArgs = args.filter((arg, k) => k !== rangeIndex && arg.type === "scalar");
  const scalars: number[] = scalarArgs.map(() => Number.NaN);
  // Functions see each window as indices into the columns and one reused bounds object.
  const window: RangeWindow = { start: 0, end: 0, ts: 0 };
  // last_over_time acts like an offset, so it keeps the metric name.
  const keepName = node.name === "last_over_time";
  const producerOf = new Map<string, Series>();
  // Each series' samples in any window are copied once into reused columns, stale markers left
  // out: the windows are then index ranges over contiguous memory.
  const spanStart = (windowEnds[0] ?? 0) - range.rangeMs;
  const spanEnd = windowEnds[stepTotal - 1] ?? 0;
  const span = new SpanColumns();
  for (const source of range.unfilteredSeries ?? range.series) {
    const { columns, length } = span.fill(source.samples, spanStart, spanEnd);
    const times = columns.t;
    const labels = keepName ? source.labels : withoutMetricName(source.labels);
    let column: ColumnSeries | undefined;
    let from = 0;
    let to = 0;
    for (let i = 0; i < stepTotal; i++) {
      const rangeEnd = windowEnds[i] as number;
      const rangeStart = rangeEnd - range.rangeMs;
      // Windows only move forward, so their bounds do too.
      while (from < length && (times[from] as number) < rangeStart) from++;
      if (to < from) to = from;
      while (to < length && (times[to] as number) <= rangeEnd) to++;
      if (to === from) continue;
      ctx.hold(to - from);
      for (let k = 0; k < scalarArgs.length; k++) {
        const arg = scalarArgs[k] as GridValue & { type: "scalar" };
        scalars[k] = arg.steps[i] ?? Number.NaN;
      }
      const ts = stepTimes[i] as number;
      window.start = rangeStart;
      window.end = rangeEnd;
      window.ts = ts;
      const v = fn(columns, from, to, window, scalars);
      ctx.release(to - from);
      if (v === undefined) continue;
      // Every output of a series carries the same labels: one check for them all.
      if (column === undefined) {
        const key = keyOfLabels(labels);
        const producer = producerOf.get(key);
        if (producer !== undefined && producer !== source) throw executionError(DUPLICATE_LABELSET);
        producerOf.set(key, source);
        column = pool.column(labels);
        out.series.push(column);
      }
      column.values[i] = v;
      column.present[i] = 1;
      column.count++;
    }
    if (column !== undefined) ctx.hold(column.count);
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return out;
}

async function callOverAllWindows(
  ctx: EvalContext,
  node: FunctionCall,
  args: GridValue[],
  rangeIndex: number,
  grid: StepGrid,
): Promise<GridValue> {
  const range = args[rangeIndex] as RangeValue;
  const steps: Vector[] = [];
  for (let i = 0; i < stepCount(grid); i++) {
    const ts = stepTime(grid, i);
    const rangeEnd = range.windowEnd(ts);
    const rangeStart = rangeEnd - range.rangeMs;
    const windows: Series[] = [];
    for (const { labels, samples } of range.series) {
      const inWindow = samplesBetween(samples, rangeStart, rangeEnd);
      if (inWindow.length > 0) windows.push({ labels, samples: inWindow });
    }
    const callArgs = argsAtStep(args, rangeIndex, windows, i, ts);
    const output = asVector(
      callFunction(node.name, callArgs, { ts, rangeStart, rangeEnd, call: node }),
    );
    ctx.hold(output.length);
    steps.push(output);
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return { type: "vector", steps };
}

function argsAtStep(
  args: GridValue[],
  rangeIndex: number,
  windows: Series[],
  index: number,
  ts: number,
): Value[] {
  return args.map((arg, k) =>
    k === rangeIndex ? { type: "matrix", value: windows } : valueAtStep(arg, index, ts),
  );
}
