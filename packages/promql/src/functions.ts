/** PromQL functions with Prometheus 2.42's semantics, applied at one evaluation step. */
import type { Expr, FunctionCall } from "./ast.ts";
import { withoutMetricName } from "./eval-labels.ts";
import { absentLabels } from "./functions-absent.ts";
import { type CivilTime, civilTime, DATE_FUNCTIONS } from "./functions-date.ts";
import { goLog, goLog2, goLog10, goMax, goMin } from "./functions-gomath.ts";
import { labelJoin, labelReplace } from "./functions-labels.ts";
import { RANGE_FUNCTIONS, sampleColumns } from "./functions-range.ts";
import { histogramQuantile } from "./quantile.ts";
import type { Series, Value, Vector } from "./values.ts";

export interface FunctionContext {
  /** Evaluation time of this step, milliseconds. */
  ts: number;
  /** For a range-vector argument: its window's bounds after offset and `@`, milliseconds. */
  rangeStart: number;
  rangeEnd: number;
  /** The call itself, for functions that read their argument expression (`absent`). */
  call: FunctionCall;
}

function vectorArg(args: Value[], index: number): Vector {
  const arg = args[index];
  if (arg?.type !== "vector") throw new Error(`argument ${index + 1} must be an instant vector`);
  return arg.value;
}

function matrixArg(args: Value[], index: number): Series[] {
  const arg = args[index];
  if (arg?.type !== "matrix") throw new Error(`argument ${index + 1} must be a range vector`);
  return arg.value;
}

function scalarArg(args: Value[], index: number): number {
  const arg = args[index];
  if (arg?.type !== "scalar") throw new Error(`argument ${index + 1} must be a scalar`);
  return arg.v;
}

function stringArg(args: Value[], index: number): string {
  const arg = args[index];
  if (arg?.type !== "string") throw new Error(`argument ${index + 1} must be a string`);
  return arg.v;
}

/** Go's math; JavaScript's where it rounds the same way. */
const MATH_FUNCTIONS: Readonly<Record<string, (v: number) => number>> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  exp: Math.exp,
  sqrt: Math.sqrt,
  ln: goLog,
  log2: goLog2,
  log10: goLog10,
  sgn: (v) => (v < 0 ? -1 : v > 0 ? 1 : v),
  acos: Math.acos,
  acosh: Math.acosh,
  asin: Math.asin,
  asinh: Math.asinh,
  atan: Math.atan,
  atanh: Math.atanh,
  cos: Math.cos,
  cosh: Math.cosh,
  sin: Math.sin,
  sinh: Math.sinh,
  tan: Math.tan,
  tanh: Math.tanh,
  deg: (v) => (v * 180) / Math.PI,
  rad: (v) => (v * Math.PI) / 180,
};

function mapValues(input: Vector, ts: number, fn: (v: number) => number): Vector {
  return input.map((sample) => ({
    labels: withoutMetricName(sample.labels),
    t: ts,
    v: fn(sample.v),
  }));
}

/** Prometheus' value order for sort and sort_desc: NaNs last either way. */
function sortByValue(input: Vector, ts: number, descending: boolean): Vector {
  const out = input.map((sample) => ({ labels: sample.labels, t: ts, v: sample.v }));
  return out.sort((a, b) => {
    if (Number.isNaN(a.v)) return Number.isNaN(b.v) ? 0 : 1;
    if (Number.isNaN(b.v)) return -1;
    return descending ? b.v - a.v : a.v - b.v;
  });
}

function unwrapParens(expr: Expr | undefined): Expr | undefined {
  let current = expr;
  while (current?.type === "paren") current = current.expr;
  return current;
}

/** A range function applied to each series of the matrix argument with samples in the window. */
function callRangeFunction(name: string, args: Value[], context: FunctionContext): Vector {
  const fn = RANGE_FUNCTIONS[name];
  if (fn === undefined) throw new Error(`unknown function ${name}`);
  const matrixIndex = args.findIndex((arg) => arg.type === "matrix");
  const scalars = args.filter((arg) => arg.type === "scalar").map((arg) => arg.v);
  const window = { start: context.rangeStart, end: context.rangeEnd, ts: context.ts };
  // last_over_time acts like an offset, so it keeps the metric name.
  const keepName = name === "last_over_time";
  const out: Vector = [];
  for (const series of matrixArg(args, matrixIndex)) {
    if (series.samples.length === 0) continue;
    const v = fn(sampleColumns(series.samples), 0, series.samples.length, window, scalars);
    if (v === undefined) continue;
    out.push({
      labels: keepName ? series.labels : withoutMetricName(series.labels),
      t: context.ts,
      v,
    });
  }
  return out;
}

function absentResult(present: boolean, context: FunctionContext): Vector {
  if (present) return [];
  return [{ labels: absentLabels(unwrapParens(context.call.args[0])), t: context.ts, v: 1 }];
}

function callDateFunction(fn: (time: CivilTime) => number, args: Value[], ts: number): Vector {
  if (args.length === 0) return [{ labels: {}, t: ts, v: fn(civilTime(Math.trunc(ts / 1000))) }];
  return mapValues(vectorArg(args, 0), ts, (v) => fn(civilTime(v)));
}

function clamp(input: Vector, min: number, max: number, ts: number): Vector {
  if (max < min) return [];
  return mapValues(input, ts, (v) => goMax(min, goMin(max, v)));
}

/** Rounds half up to a multiple of `toNearest`, through its inverse as Prometheus does. */
function round(input: Vector, toNearest: number, ts: number): Vector {
  const inverse = 1 / toNearest;
  return mapValues(input, ts, (v) => Math.floor(v * inverse + 0.5) / inverse);
}

/** Applies function `name` to its evaluated arguments at one step. */
export function callFunction(name: string, args: Value[], context: FunctionContext): Value {
  const { ts } = context;
  const vector = (value: Vector): Value => ({ type: "vector", value });
  const mathFunction = MATH_FUNCTIONS[name];
  if (mathFunction !== undefined) return vector(mapValues(vectorArg(args, 0), ts, mathFunction));
  const dateFunction = DATE_FUNCTIONS[name];
  if (dateFunction !== undefined) return vector(callDateFunction(dateFunction, args, ts));

  switch (name) {
    case "time":
      return { type: "scalar", t: ts, v: ts / 1000 };
    case "pi":
      return { type: "scalar", t: ts, v: Math.PI };
    case "scalar": {
      const input = vectorArg(args, 0);
      return { type: "scalar", t: ts, v: input.length === 1 ? (input[0]?.v ?? NaN) : NaN };
    }
    case "vector":
      return vector([{ labels: {}, t: ts, v: scalarArg(args, 0) }]);
    case "absent":
      return vector(absentResult(vectorArg(args, 0).length > 0, context));
    case "absent_over_time":
      return vector(
        absentResult(
          matrixArg(args, 0).some((series) => series.samples.length > 0),
          context,
        ),
      );
    case "timestamp":
      return vector(
        vectorArg(args, 0).map((sample) => ({
          labels: withoutMetricName(sample.labels),
          t: ts,
          v: sample.t / 1000,
        })),
      );
    case "sort":
      return vector(sortByValue(vectorArg(args, 0), ts, false));
    case "sort_desc":
      return vector(sortByValue(vectorArg(args, 0), ts, true));
    case "clamp":
      return vector(clamp(vectorArg(args, 0), scalarArg(args, 1), scalarArg(args, 2), ts));
    case "clamp_min":
      return vector(mapValues(vectorArg(args, 0), ts, (v) => goMax(scalarArg(args, 1), v)));
    case "clamp_max":
      return vector(mapValues(vectorArg(args, 0), ts, (v) => goMin(scalarArg(args, 1), v)));
    case "round":
      return vector(round(vectorArg(args, 0), args.length > 1 ? scalarArg(args, 1) : 1, ts));
    case "histogram_quantile":
      return vector(histogramQuantile(scalarArg(args, 0), vectorArg(args, 1), ts));
    case "label_replace":
      return vector(
        labelReplace(
          vectorArg(args, 0),
          stringArg(args, 1),
          stringArg(args, 2),
          stringArg(args, 3),
          stringArg(args, 4),
          ts,
        ),
      );
    case "label_join":
      return vector(
        labelJoin(
          vectorArg(args, 0),
          stringArg(args, 1),
          stringArg(args, 2),
          args.slice(3).map((_, i) => stringArg(args, i + 3)),
          ts,
        ),
      );
    default:
      return vector(callRangeFunction(name, args, context));
  }
}
