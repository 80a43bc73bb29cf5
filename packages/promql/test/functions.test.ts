/**
 * Functions on instant vectors and scalars. Expected values marked "2.42" are what Prometheus
 * 2.42 answers for the same input.
 */
import { describe, expect, it } from "vitest";
import type { Expr, FunctionCall } from "../src/ast.ts";
import { callFunction } from "../src/functions.ts";
import type { Labels, Value, Vector } from "../src/values.ts";

const TS = 100_000;

function context(args: Expr[] = []) {
  return {
    ts: TS,
    rangeStart: TS,
    rangeEnd: TS,
    call: { type: "call", name: "f", args } as FunctionCall,
  };
}

function vec(...samples: [Labels, number][]): Value {
  return { type: "vector", value: samples.map(([labels, v]) => ({ labels, t: 42_000, v })) };
}

function scalar(v: number): Value {
  return { type: "scalar", t: 0, v };
}

function run(name: string, args: Value[], callArgs: Expr[] = []): Vector {
  const result = callFunction(name, args, context(callArgs));
  if (result.type !== "vector") throw new Error(`expected a vector, got ${result.type}`);
  return result.value;
}

function values(name: string, ...args: Value[]): number[] {
  return run(name, args).map((sample) => sample.v);
}

/** One value through a function of a single vector argument. */
function apply(name: string, v: number): number {
  const [first] = values(name, vec([{}, v]));
  if (first === undefined) throw new Error(`${name} gave no value`);
  return first;
}

const metric = { __name__: "m", job: "a" };

describe("math functions", () => {
  it("apply to each sample, drop the metric name and take the step's time", () => {
    expect(run("abs", [vec([metric, -3], [{ job: "b" }, 2])])).toEqual([
      { labels: { job: "a" }, t: TS, v: 3 },
      { labels: { job: "b" }, t: TS, v: 2 },
    ]);
  });

  it("match Go's results (2.42)", () => {
    expect(apply("ceil", 1.2)).toBe(2);
    expect(apply("floor", -1.2)).toBe(-2);
    expect(apply("exp", 1)).toBe(Math.E);
    expect(apply("sqrt", 16)).toBe(4);
    expect(apply("ln", -1)).toBeNaN();
    expect(apply("deg", 1)).toBe(57.29577951308232);
    expect(apply("rad", 180)).toBe(Math.PI);
    expect(apply("sin", 1)).toBe(0.8414709848078965);
    expect(apply("atanh", 0.5)).toBe(0.5493061443340548);
    expect(apply("acosh", 2)).toBe(1.3169578969248166);
    expect(apply("asinh", 3)).toBeCloseTo(1.8184464592320668, 14);
    expect(apply("cosh", 3)).toBeCloseTo(10.067661995777765, 13);
    expect(apply("sinh", 3)).toBeCloseTo(10.017874927409903, 13);
    expect(apply("tanh", 0.3)).toBeCloseTo(0.2913126124515909, 14);
    expect(apply("acos", 1)).toBe(0);
    expect(apply("asin", 0)).toBe(0);
    expect(apply("atan", 0)).toBe(0);
    expect(apply("cos", 0)).toBe(1);
    expect(apply("tan", 0)).toBe(0);
  });

  it("compute log2 and log10 as Go does (2.42)", () => {
    expect(apply("log10", 1000)).toBe(3);
    expect(apply("log10", 1e-5)).toBe(-5);
    expect(apply("log10", 0.001)).toBe(-3);
    expect(apply("log10", 7)).toBe(0.8450980400142568);
    expect(apply("log10", 12345.678)).toBe(4.091514945509201);
    expect(apply("log10", 1e300)).toBe(300);
    expect(apply("log10", 0.1)).toBe(-0.9999999999999999);
    expect(apply("log2", 1e-5)).toBe(-16.609640474436812);
    expect(apply("log2", 0.001)).toBe(-9.965784284662087);
    expect(apply("log2", 7)).toBe(2.807354922057604);
    expect(apply("log2", 12345.678)).toBe(13.59171844813855);
    expect(apply("log2", 1e300)).toBe(996.5784284662087);
    expect(apply("log2", 0.1)).toBe(-3.321928094887362);
    expect(apply("log2", 1024)).toBe(10);
    expect(apply("log2", 0)).toBe(-Infinity);
    expect(apply("log2", -1)).toBeNaN();
  });

  it("sgn keeps zero and NaN", () => {
    expect(apply("sgn", -3)).toBe(-1);
    expect(apply("sgn", 0.5)).toBe(1);
    expect(Object.is(apply("sgn", -0), -0)).toBe(true);
    expect(apply("sgn", NaN)).toBeNaN();
  });
});

describe("round", () => {
  it("rounds half up, to a multiple of its second argument (2.42)", () => {
    expect(apply("round", -2.5)).toBe(-2);
    expect(apply("round", 2.5)).toBe(3);
    expect(values("round", vec([{}, 1.2345]), scalar(0.01))).toEqual([1.23]);
    expect(values("round", vec([{}, 17]), scalar(5))).toEqual([15]);
    expect(values("round", vec([{}, -17]), scalar(-5))).toEqual([-15]);
    expect(values("round", vec([{}, 17]), scalar(0))).toEqual([NaN]);
  });
});

describe("clamp", () => {
  it("limits values and gives nothing when min > max (2.42)", () => {
    expect(values("clamp", vec([{}, 5], [{ a: "1" }, -5]), scalar(1), scalar(3))).toEqual([3, 1]);
    expect(values("clamp", vec([{}, 5]), scalar(10), scalar(1))).toEqual([]);
    expect(values("clamp", vec([{}, NaN]), scalar(1), scalar(3))).toEqual([NaN]);
    expect(values("clamp_min", vec([{}, 5]), scalar(NaN))).toEqual([NaN]);
    expect(values("clamp_min", vec([{}, 5]), scalar(7))).toEqual([7]);
    expect(values("clamp_max", vec([{}, 5]), scalar(3))).toEqual([3]);
    expect(run("clamp_max", [vec([metric, 5]), scalar(9)])[0]?.labels).toEqual({ job: "a" });
  });

  it("lets an infinity win over NaN, as Go's math.Max and math.Min do (2.42)", () => {
    expect(values("clamp", vec([{}, -Infinity]), scalar(4.5), scalar(NaN))).toEqual([4.5]);
    expect(values("clamp_max", vec([{}, -Infinity]), scalar(NaN))).toEqual([-Infinity]);
    expect(values("clamp_min", vec([{}, Infinity]), scalar(NaN))).toEqual([Infinity]);
    expect(values("clamp_min", vec([{}, NaN]), scalar(Infinity))).toEqual([Infinity]);
    expect(values("clamp_max", vec([{}, 1]), scalar(NaN))).toEqual([NaN]);
  });
});

describe("scalar, vector, time and pi", () => {
  it("scalar takes the single element, else NaN", () => {
    expect(callFunction("scalar", [vec([metric, 20])], context())).toEqual({
      type: "scalar",
      t: TS,
      v: 20,
    });
    const two = callFunction("scalar", [vec([metric, 1], [{}, 2])], context());
    expect(two.type === "scalar" && Number.isNaN(two.v)).toBe(true);
    const none = callFunction("scalar", [vec()], context());
    expect(none.type === "scalar" && Number.isNaN(none.v)).toBe(true);
  });

  it("vector makes one sample without labels", () => {
    expect(run("vector", [scalar(7)])).toEqual([{ labels: {}, t: TS, v: 7 }]);
  });

  it("time and pi are scalars", () => {
    expect(callFunction("time", [], context())).toEqual({ type: "scalar", t: TS, v: 100 });
    expect(callFunction("pi", [], context())).toEqual({ type: "scalar", t: TS, v: Math.PI });
  });
});

describe("timestamp", () => {
  it("answers each sample's own time in seconds, without the metric name", () => {
    expect(run("timestamp", [vec([metric, 5])])).toEqual([{ labels: { job: "a" }, t: TS, v: 42 }]);
  });
});

describe("sort and sort_desc", () => {
  const input = () =>
    vec(
      [{ s: "a" }, 1],
      [{ s: "b" }, NaN],
      [{ s: "c" }, 3],
      [{ s: "d" }, 2],
      [{ s: "e" }, NaN],
      [{ s: "f" }, 0],
    );

  it("order by value with NaN last either way, keeping labels (2.42)", () => {
    const sorted = run("sort", [input()]);
    expect(sorted.map((s) => s.labels.s).slice(0, 4)).toEqual(["f", "a", "d", "c"]);
    expect(sorted.slice(4).every((s) => Number.isNaN(s.v))).toBe(true);
    const desc = run("sort_desc", [input()]);
    expect(desc.map((s) => s.labels.s).slice(0, 4)).toEqual(["c", "d", "a", "f"]);
    expect(desc.slice(4).every((s) => Number.isNaN(s.v))).toBe(true);
    expect(run("sort", [vec([metric, 1])])).toEqual([{ labels: metric, t: TS, v: 1 }]);
  });
});

describe("absent", () => {
  const selector = (matchers: [string, "=" | "!=" | "=~" | "!~", string][]): Expr => ({
    type: "vectorSelector",
    name: "nope",
    matchers: [
      { name: "__name__", op: "=", value: "nope" },
      ...matchers.map(([name, op, value]) => ({ name, op, value })),
    ],
    offsetMs: 0,
  });

  it("answers nothing when the argument has samples", () => {
    expect(run("absent", [vec([metric, 1])], [selector([])])).toEqual([]);
  });

  it("takes labels from the selector's equality matchers (2.42)", () => {
    const cases: [Expr, Labels][] = [
      [selector([["a", "=", "x"]]), { a: "x" }],
      [
        selector([
          ["a", "=", "x"],
          ["a", "=", "y"],
          ["b", "=", "z"],
        ]),
        { b: "z" },
      ],
      [
        selector([
          ["a", "=", ""],
          ["a", "=", "x"],
        ]),
        {},
      ],
      [
        selector([
          ["a", "=", "x"],
          ["b", "=~", "y"],
        ]),
        { a: "x" },
      ],
      [selector([["a", "!=", "x"]]), {}],
      [{ type: "paren", expr: selector([["a", "=", "x"]]) }, { a: "x" }],
      [{ type: "call", name: "abs", args: [selector([["a", "=", "x"]])] }, {}],
    ];
    for (const [expr, labels] of cases) {
      expect(run("absent", [vec()], [expr])).toEqual([{ labels, t: TS, v: 1 }]);
    }
  });
});

describe("date functions", () => {
  function date(name: string, v: number): number {
    return apply(name, v);
  }

  it("read the value as Unix seconds in UTC (2.42)", () => {
    expect(date("day_of_week", 1700000000)).toBe(2);
    expect(date("hour", 1700000000)).toBe(22);
    expect(date("days_in_month", 951782400)).toBe(29);
    expect(date("day_of_year", 951782400)).toBe(60);
    expect(date("day_of_month", 951782400)).toBe(29);
    expect(date("month", 951782400)).toBe(2);
    expect(date("year", 951782400)).toBe(2000);
    expect(date("minute", 951782400 + 125)).toBe(2);
    expect(date("days_in_month", 0)).toBe(31);
    expect(date("hour", -1.5)).toBe(23);
  });

  it("follow Go for values outside JavaScript dates and for NaN (2.42)", () => {
    const expected: Record<string, [number, number, number]> = {
      // [at -62135596801, at 1e18, at -1e13]
      day_of_month: [31, 23, 13],
      day_of_week: [0, 5, 0],
      day_of_year: [366, 297, 225],
      days_in_month: [31, 31, 31],
      hour: [23, 1, 6],
      minute: [59, 46, 13],
      month: [12, 10, 8],
      year: [0, 31688740476, -314918],
    };
    for (const [name, [a, b, c]] of Object.entries(expected)) {
      expect([name, date(name, -62135596801), date(name, 1e18), date(name, -1e13)]).toEqual([
        name,
        a,
        b,
        c,
      ]);
    }
    expect(date("hour", NaN)).toBe(15);
    expect(date("hour", Infinity)).toBe(15);
  });

  it("use the evaluation time without an argument", () => {
    const result = callFunction("hour", [], { ...context(), ts: 1700000000_000 });
    expect(result).toEqual({ type: "vector", value: [{ labels: {}, t: 1700000000_000, v: 22 }] });
  });

  it("drop the metric name", () => {
    expect(run("year", [vec([metric, 0])])).toEqual([{ labels: { job: "a" }, t: TS, v: 1970 }]);
  });
});
