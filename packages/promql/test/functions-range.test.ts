/**
 * Range-vector functions. Expected values marked "2.42" are what Prometheus 2.42 answers for
 * the same samples and window.
 */
import { describe, expect, it } from "vitest";
import type { FunctionCall } from "../src/ast.ts";
import { callFunction } from "../src/functions.ts";
import type { Labels, Value, Vector } from "../src/values.ts";

const call: FunctionCall = { type: "call", name: "f", args: [] };

/** Samples as [seconds, value] pairs. */
type Points = [number, number][];

function series(labels: Labels, points: Points) {
  return { labels, samples: points.map(([t, v]) => ({ t: t * 1000, v })) };
}

function matrix(...list: ReturnType<typeof series>[]): Value {
  return { type: "matrix", value: list };
}

function scalar(v: number): Value {
  return { type: "scalar", t: 0, v };
}

/** Evaluates at `ts` seconds over the window [ts - offset - range, ts - offset]. */
function evalAt(
  name: string,
  args: Value[],
  ts: number,
  rangeSeconds: number,
  offsetSeconds = 0,
): Vector {
  const end = (ts - offsetSeconds) * 1000;
  const result = callFunction(name, args, {
    ts: ts * 1000,
    rangeStart: end - rangeSeconds * 1000,
    rangeEnd: end,
    call,
  });
  if (result.type !== "vector") throw new Error(`expected a vector, got ${result.type}`);
  return result.value;
}

function only(vector: Vector): number {
  expect(vector).toHaveLength(1);
  return (vector[0] as Vector[number]).v;
}

const ctr = { __name__: "ctr", s: "a" };
/** A counter scraped every 15 s with a reset between 30 s and 45 s. */
const counterPoints: Points = [
  [15, 5],
  [30, 12],
  [45, 3],
  [60, 9],
  [75, 9],
  [90, 20],
];
/** Windowed as a 2.x range selector includes samples: start <= t <= end. */
function windowed(points: Points, start: number, end: number): Points {
  return points.filter(([t]) => t >= start && t <= end);
}

const gauge = { __name__: "gg", s: "a" };
const gaugePoints: Points = [
  [15, 5],
  [30, NaN],
  [45, NaN],
  [60, -2],
  [75, 7.5],
  [90, 7.5],
];

describe("rate, increase and delta", () => {
  it("adds counter resets back and extrapolates to the window's edges (2.42)", () => {
    const in60 = matrix(series(ctr, windowed(counterPoints, 40, 100)));
    expect(only(evalAt("rate", [in60], 100, 60))).toBeCloseTo(0.3777777777777777, 14);
    expect(only(evalAt("increase", [in60], 100, 60))).toBeCloseTo(22.666666666666664, 12);
    expect(only(evalAt("delta", [in60], 100, 60))).toBeCloseTo(22.666666666666664, 12);
    const in100 = matrix(series(ctr, windowed(counterPoints, 0, 100)));
    expect(only(evalAt("increase", [in100], 100, 100))).toBeCloseTo(35.599999999999994, 12);
    expect(only(evalAt("delta", [matrix(series(gauge, gaugePoints))], 100, 100))).toBeCloseTo(
      3.333333333333333,
      12,
    );
  });

  it("includes a sample exactly at the window's start and honours the offset (2.42)", () => {
    const window = matrix(series(ctr, windowed(counterPoints, 30, 90)));
    expect(only(evalAt("rate", [window], 100, 60, 10))).toBeCloseTo(0.3333333333333333, 14);
  });

  it("does not extrapolate a counter below zero (2.42: zero point before the threshold)", () => {
    // Samples 20 s apart starting 10 s into the window: the zero point is 1.03 s before.
    const nearZero = matrix(
      series(ctr, [
        [110, 1],
        [130, 20],
        [150, 40],
      ]),
    );
    expect(only(evalAt("increase", [nearZero], 160, 60))).toBeCloseTo(49.75, 12);
    // Start 30 s before the first sample (beyond the threshold of 11 s) but the zero point only
    // 10 s before: 2.42 extrapolates to the zero point (40); later releases give 35.
    const late = matrix(
      series(ctr, [
        [130, 10],
        [140, 20],
        [150, 30],
      ]),
    );
    expect(only(evalAt("increase", [late], 160, 60))).toBeCloseTo(40, 12);
    // A gauge may go negative: delta extrapolates half an interval, (20 + 5 + 10) / 20.
    expect(only(evalAt("delta", [late], 160, 60))).toBeCloseTo(35, 12);
  });

  it("extrapolates only half an interval when the series starts well inside the window", () => {
    // 10 s apart, first sample 40 s after the start, last at the end: (20 + 5 + 0) / 20.
    const late = matrix(
      series(gauge, [
        [140, 0],
        [150, 10],
        [160, 20],
      ]),
    );
    expect(only(evalAt("delta", [late], 160, 60))).toBeCloseTo(25, 12);
    // As a counter it started at zero at its first sample: no extrapolation before it.
    expect(only(evalAt("rate", [late], 160, 60))).toBeCloseTo(20 / 60, 12);
  });

  it("gives nothing for fewer than two samples and drops the metric name", () => {
    expect(evalAt("rate", [matrix(series(ctr, [[95, 20]]))], 100, 10)).toEqual([]);
    const out = evalAt("rate", [matrix(series(ctr, counterPoints))], 100, 100);
    expect(out[0]?.labels).toEqual({ s: "a" });
    expect(out[0]?.t).toBe(100_000);
  });

  it("skips series without samples in the window and keeps the others' order", () => {
    const out = evalAt(
      "increase",
      [
        matrix(
          series({ s: "empty" }, []),
          series({ s: "b" }, [
            [10, 1],
            [20, 2],
          ]),
          series({ s: "c" }, [
            [10, 5],
            [20, 5],
          ]),
        ),
      ],
      20,
      10,
    );
    expect(out.map((sample) => sample.labels.s)).toEqual(["b", "c"]);
  });
});

describe("irate and idelta", () => {
  it("use the last two samples, a drop counting as a reset for irate (2.42)", () => {
    const window = matrix(series(ctr, windowed(counterPoints, 40, 100)));
    expect(only(evalAt("irate", [window], 100, 60))).toBeCloseTo(0.7333333333333333, 14);
    expect(only(evalAt("idelta", [window], 100, 60))).toBe(11);
    const reset = matrix(
      series(ctr, [
        [30, 12],
        [45, 3],
      ]),
    );
    expect(only(evalAt("irate", [reset], 45, 60))).toBeCloseTo(3 / 15, 14);
    expect(only(evalAt("idelta", [reset], 45, 60))).toBe(-9);
    expect(evalAt("irate", [matrix(series(ctr, [[30, 12]]))], 45, 60)).toEqual([]);
  });
});

describe("deriv and predict_linear", () => {
  it("fit a line by least squares (2.42)", () => {
    const window = matrix(series(ctr, counterPoints));
    expect(only(evalAt("deriv", [window], 100, 100))).toBeCloseTo(0.13714285714285715, 14);
    expect(only(evalAt("predict_linear", [window, scalar(30)], 100, 100))).toBeCloseTo(
      20.295238095238094,
      12,
    );
  });

  it("sum with compensation, as 2.42 (exact values from Prometheus)", () => {
    const window = matrix(
      series(ctr, [
        [100, 1e16],
        [110, 1],
        [120, -1e16],
        [130, 3],
      ]),
    );
    expect(only(evalAt("deriv", [window], 130, 60))).toBe(-399999999999999.94);
    expect(only(evalAt("predict_linear", [window, scalar(50)], 130, 60))).toBe(-25999999999999990);
  });

  it("give slope zero for a constant series", () => {
    const constant = matrix(
      series(ctr, [
        [100, 5],
        [110, 5],
        [120, 5],
      ]),
    );
    expect(only(evalAt("deriv", [constant], 130, 60))).toBe(0);
    expect(only(evalAt("predict_linear", [constant, scalar(100)], 130, 60))).toBe(5);
    const infinite = matrix(
      series(ctr, [
        [100, Infinity],
        [110, Infinity],
      ]),
    );
    expect(only(evalAt("deriv", [infinite], 130, 60))).toBeNaN();
  });
});

describe("changes and resets", () => {
  it("count value changes (NaN to NaN is none) and decreases (2.42)", () => {
    expect(only(evalAt("changes", [matrix(series(gauge, gaugePoints))], 100, 100))).toBe(3);
    expect(only(evalAt("resets", [matrix(series(ctr, counterPoints))], 100, 100))).toBe(1);
    expect(only(evalAt("changes", [matrix(series(gauge, [[90, 1]]))], 100, 100))).toBe(0);
  });
});

describe("*_over_time", () => {
  const window = () => matrix(series(gauge, gaugePoints));

  it("aggregate the window's values (2.42)", () => {
    expect(only(evalAt("max_over_time", [window()], 100, 100))).toBe(7.5);
    expect(only(evalAt("min_over_time", [window()], 100, 100))).toBe(-2);
    expect(only(evalAt("sum_over_time", [window()], 100, 100))).toBeNaN();
    expect(only(evalAt("count_over_time", [window()], 100, 100))).toBe(6);
    expect(only(evalAt("present_over_time", [window()], 100, 100))).toBe(1);
    // 58 / 6 would be 9.666666666666666; the running mean gives what Prometheus gives.
    expect(only(evalAt("avg_over_time", [matrix(series(ctr, counterPoints))], 100, 100))).toBe(
      9.666666666666668,
    );
    expect(
      only(evalAt("stddev_over_time", [matrix(series(ctr, counterPoints))], 100, 100)),
    ).toBeCloseTo(5.467073155618908, 14);
    expect(
      only(evalAt("stdvar_over_time", [matrix(series(ctr, counterPoints))], 100, 100)),
    ).toBeCloseTo(5.467073155618908 ** 2, 12);
  });

  it("min and max skip a leading NaN but keep NaN when all are NaN", () => {
    const nan = matrix(
      series(gauge, [
        [10, NaN],
        [20, 3],
        [30, NaN],
      ]),
    );
    expect(only(evalAt("max_over_time", [nan], 30, 30))).toBe(3);
    expect(only(evalAt("min_over_time", [nan], 30, 30))).toBe(3);
    const allNaN = matrix(series(gauge, [[10, NaN]]));
    expect(only(evalAt("max_over_time", [allNaN], 30, 30))).toBeNaN();
  });

  it("sum and average with compensated sums, as 2.42 does", () => {
    const cancelling = matrix(
      series(gauge, [
        [100, 1e100],
        [110, 1],
        [120, -1e100],
      ]),
    );
    expect(only(evalAt("sum_over_time", [cancelling], 200, 300))).toBe(1);
    expect(only(evalAt("avg_over_time", [cancelling], 200, 300))).toBe(0);
    const kd = matrix(
      series(gauge, [
        [100, 1e16],
        [110, 1],
        [120, -1e16],
        [130, 3],
      ]),
    );
    expect(only(evalAt("avg_over_time", [kd], 200, 300))).toBe(0.75);
    expect(only(evalAt("stdvar_over_time", [kd], 200, 300))).toBe(5e31);
  });

  it("keep an infinite average or sum", () => {
    const inf = matrix(
      series(gauge, [
        [10, Infinity],
        [20, 1],
        [30, Infinity],
      ]),
    );
    expect(only(evalAt("avg_over_time", [inf], 30, 30))).toBe(Infinity);
    expect(only(evalAt("sum_over_time", [inf], 30, 30))).toBe(Infinity);
    const both = matrix(
      series(gauge, [
        [10, Infinity],
        [20, -Infinity],
      ]),
    );
    expect(only(evalAt("avg_over_time", [both], 30, 30))).toBeNaN();
  });

  it("drop the metric name except last_over_time", () => {
    expect(evalAt("max_over_time", [window()], 100, 100)[0]?.labels).toEqual({ s: "a" });
    const last = evalAt("last_over_time", [window()], 100, 100);
    expect(last).toEqual([{ labels: gauge, t: 100_000, v: 7.5 }]);
  });

  it("quantile_over_time interpolates between ranks; NaN values sort first (2.42)", () => {
    const counter = matrix(series(ctr, counterPoints));
    expect(only(evalAt("quantile_over_time", [scalar(0.3), counter], 100, 100))).toBe(7);
    expect(only(evalAt("quantile_over_time", [scalar(0.3), window()], 100, 100))).toBeNaN();
    expect(only(evalAt("quantile_over_time", [scalar(1), window()], 100, 100))).toBe(7.5);
    expect(only(evalAt("quantile_over_time", [scalar(-1), counter], 100, 100))).toBe(-Infinity);
    expect(only(evalAt("quantile_over_time", [scalar(2), counter], 100, 100))).toBe(Infinity);
    expect(only(evalAt("quantile_over_time", [scalar(NaN), counter], 100, 100))).toBeNaN();
    expect(only(evalAt("quantile_over_time", [scalar(0.5), counter], 100, 100))).toBe(9);
  });
});

describe("absent_over_time", () => {
  const absentCall = (arg: FunctionCall["args"][number]): FunctionCall => ({
    type: "call",
    name: "absent_over_time",
    args: [arg],
  });
  const selector = {
    type: "vectorSelector" as const,
    name: "nope",
    matchers: [
      { name: "__name__", op: "=" as const, value: "nope" },
      { name: "a", op: "=" as const, value: "x" },
      { name: "b", op: "=~" as const, value: "y" },
    ],
    offsetMs: 0,
  };

  it("answers 1 with the selector's equality labels when no series has samples", () => {
    const context = {
      ts: 100_000,
      rangeStart: 40_000,
      rangeEnd: 100_000,
      call: absentCall({ type: "matrixSelector", selector, rangeMs: 60_000 }),
    };
    const empty = callFunction("absent_over_time", [matrix(series({ a: "x" }, []))], context);
    expect(empty).toEqual({ type: "vector", value: [{ labels: { a: "x" }, t: 100_000, v: 1 }] });
    const present = callFunction("absent_over_time", [matrix(series({}, [[50, 1]]))], context);
    expect(present).toEqual({ type: "vector", value: [] });
  });

  it("has no labels for a subquery argument", () => {
    const context = {
      ts: 100_000,
      rangeStart: 40_000,
      rangeEnd: 100_000,
      call: absentCall({
        type: "subquery",
        expr: selector,
        rangeMs: 60_000,
        stepMs: 0,
        offsetMs: 0,
      }),
    };
    expect(callFunction("absent_over_time", [matrix()], context)).toEqual({
      type: "vector",
      value: [{ labels: {}, t: 100_000, v: 1 }],
    });
  });
});
