import { afterEach, describe, expect, it, vi } from "vitest";
import type {
  AtModifier,
  Expr,
  FunctionCall,
  LabelMatcher,
  MatrixSelector,
  SubqueryExpr,
  VectorSelector,
} from "../src/ast.ts";
import { evaluate, instantQuery, rangeQuery, selectorReads } from "../src/engine.ts";
import { PromQLError } from "../src/errors.ts";
import { callFunction } from "../src/functions.ts";
import { RANGE_FUNCTIONS, type RangeFunction, type RangeWindow } from "../src/functions-range.ts";
import { MemorySource } from "../src/memory-source.ts";
import { type Series, staleNaN, type Value } from "../src/values.ts";

// Function calls keep their real behaviour but can be observed or replaced per test.
vi.mock("../src/functions.ts", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/functions.ts")>();
  return { ...real, callFunction: vi.fn(real.callFunction) };
});

afterEach(() => {
  vi.mocked(callFunction).mockClear();
});

const S = 1000;
const M = 60 * S;

function selector(
  name: string,
  options: { offsetMs?: number; at?: AtModifier; matchers?: LabelMatcher[] } = {},
): VectorSelector {
  const node: VectorSelector = {
    type: "vectorSelector",
    name,
    matchers: [{ name: "__name__", op: "=", value: name }, ...(options.matchers ?? [])],
    offsetMs: options.offsetMs ?? 0,
  };
  if (options.at !== undefined) node.at = options.at;
  return node;
}

function matrix(sel: VectorSelector, rangeMs: number): MatrixSelector {
  return { type: "matrixSelector", selector: sel, rangeMs };
}

function subquery(expr: Expr, rangeMs: number, stepMs: number, offsetMs = 0): SubqueryExpr {
  return { type: "subquery", expr, rangeMs, stepMs, offsetMs };
}

function call(name: string, ...args: Expr[]): FunctionCall {
  return { type: "call", name, args };
}

/** A series sampled every `every` ms from `from`, values 0, 1, 2, … unless given. */
function series(
  labels: Record<string, string>,
  from: number,
  every: number,
  values: number[],
): Series {
  return { labels, samples: values.map((v, i) => ({ t: from + i * every, v })) };
}

function vectorOf(value: Value): { labels: Record<string, string>; t: number; v: number }[] {
  if (value.type !== "vector") throw new Error(`expected a vector, got ${value.type}`);
  return value.value.map((s) => ({ labels: { ...s.labels }, t: s.t, v: s.v }));
}

function valuesOf(value: Value): number[] {
  return vectorOf(value).map((s) => s.v);
}

function seriesOf(value: Value): Series[] {
  if (value.type !== "matrix") throw new Error(`expected a matrix, got ${value.type}`);
  return value.value;
}

const minutely = new MemorySource([
  series({ __name__: "m", job: "a" }, 0, M, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
]);

describe("instant selectors", () => {
  const source = new MemorySource([series({ __name__: "one" }, 0, M, [42])]);

  it("includes a sample exactly the lookback old, not older", async () => {
    expect(valuesOf(await instantQuery(source, selector("one"), 5 * M))).toEqual([42]);
    expect(valuesOf(await instantQuery(source, selector("one"), 5 * M + 1))).toEqual([]);
    expect(valuesOf(await instantQuery(source, selector("one"), 0))).toEqual([42]);
    expect(valuesOf(await instantQuery(source, selector("one"), -1))).toEqual([]);
  });

  it("answers the evaluation time and keeps the metric name", async () => {
    expect(vectorOf(await instantQuery(source, selector("one"), 90 * S))).toEqual([
      { labels: { __name__: "one" }, t: 90 * S, v: 42 },
    ]);
  });

  it("honours a shorter lookback", async () => {
    const value = await instantQuery(source, selector("one"), 2 * M, { lookbackMs: M });
    expect(valuesOf(value)).toEqual([]);
  });

  it("ends a series at a staleness marker", async () => {
    const stale = new MemorySource([
      {
        labels: { __name__: "s" },
        samples: [
          { t: 0, v: 1 },
          { t: M, v: staleNaN() },
          { t: 3 * M, v: 3 },
        ],
      },
    ]);
    expect(valuesOf(await instantQuery(stale, selector("s"), 30 * S))).toEqual([1]);
    expect(valuesOf(await instantQuery(stale, selector("s"), M))).toEqual([]);
    expect(valuesOf(await instantQuery(stale, selector("s"), 2 * M))).toEqual([]);
    expect(valuesOf(await instantQuery(stale, selector("s"), 3 * M))).toEqual([3]);
  });

  it("looks back by an offset, or ahead by a negative one", async () => {
    expect(
      valuesOf(await instantQuery(minutely, selector("m", { offsetMs: 2 * M }), 5 * M)),
    ).toEqual([3]);
    expect(
      valuesOf(await instantQuery(minutely, selector("m", { offsetMs: -2 * M }), 5 * M)),
    ).toEqual([7]);
    expect(
      valuesOf(await instantQuery(minutely, selector("m", { offsetMs: 30 * S }), 5 * M)),
    ).toEqual([4]);
  });

  it("pins the reference time with @, offset applied after it", async () => {
    const pinned = selector("m", { at: { kind: "time", ms: 3 * M }, offsetMs: M });
    expect(vectorOf(await instantQuery(minutely, pinned, 9 * M))).toEqual([
      { labels: { __name__: "m", job: "a" }, t: 9 * M, v: 2 },
    ]);
  });

  it("resolves @ start() and @ end() to the query's range", async () => {
    const range = { start: 2 * M, end: 6 * M, step: 2 * M };
    const atStart = seriesOf(
      await rangeQuery(minutely, selector("m", { at: { kind: "start" } }), range),
    );
    expect(atStart[0]?.samples).toEqual([
      { t: 2 * M, v: 2 },
      { t: 4 * M, v: 2 },
      { t: 6 * M, v: 2 },
    ]);
    const atEnd = seriesOf(
      await rangeQuery(minutely, selector("m", { at: { kind: "end" } }), range),
    );
    expect(atEnd[0]?.samples.map((s) => s.v)).toEqual([6, 6, 6]);
  });
});

describe("range selectors", () => {
  it("answers the closed window [t - range, t] at an instant, staleness markers dropped", async () => {
    const source = new MemorySource([
      {
        labels: { __name__: "r" },
        samples: [
          { t: 0, v: 0 },
          { t: M, v: 1 },
          { t: 2 * M, v: staleNaN() },
          { t: 3 * M, v: 3 },
          { t: 4 * M, v: 4 },
        ],
      },
    ]);
    const value = await instantQuery(source, matrix(selector("r"), 2 * M), 3 * M);
    expect(seriesOf(value)).toEqual([
      {
        labels: { __name__: "r" },
        samples: [
          { t: M, v: 1 },
          { t: 3 * M, v: 3 },
        ],
      },
    ]);
  });

  it("moves the window by offset and leaves out series with an empty window", async () => {
    const source = new MemorySource([
      series({ __name__: "r", k: "early" }, 0, M, [0, 1, 2]),
      series({ __name__: "r", k: "late" }, 8 * M, M, [8, 9]),
    ]);
    const value = await instantQuery(
      source,
      matrix(selector("r", { offsetMs: 8 * M }), 90 * S),
      10 * M,
    );
    expect(seriesOf(value)).toEqual([
      {
        labels: { __name__: "r", k: "early" },
        samples: [
          { t: M, v: 1 },
          { t: 2 * M, v: 2 },
        ],
      },
    ]);
  });

  it("hands a function each series' window with the window's bounds", async () => {
    const source = new MemorySource([
      series({ __name__: "c", k: "1" }, 0, M, [0, 1, 2, 3, 4, 5]),
      series({ __name__: "c", k: "2" }, 0, M, [10, 11]),
    ]);
    const seen: { times: number[]; window: RangeWindow }[] = [];
    const rate = vi
      .spyOn(RANGE_FUNCTIONS as Record<string, RangeFunction>, "rate")
      .mockImplementation((samples, from, to, window) => {
        seen.push({ times: Array.from(samples.t.subarray(from, to)), window: { ...window } });
        return 1;
      });
    try {
      await instantQuery(
        source,
        call("rate", matrix(selector("c", { offsetMs: M }), 2 * M)),
        5 * M,
      );
    } finally {
      rate.mockRestore();
    }
    // Series "2" has no sample in the window, so the function never sees it.
    expect(seen.map(({ times }) => times)).toEqual([[2 * M, 3 * M, 4 * M]]);
    expect(seen[0]?.window).toEqual({ ts: 5 * M, start: 2 * M, end: 4 * M });
  });
});

describe("subqueries", () => {
  it("evaluates the inside at multiples of its step within the window", async () => {
    const value = await instantQuery(
      minutely,
      subquery(selector("m"), 5 * M, 2 * M),
      9 * M + 30 * S,
    );
    // The window is [4m30s, 9m30s]: inner steps at 6m and 8m.
    expect(seriesOf(value)).toEqual([
      {
        labels: { __name__: "m", job: "a" },
        samples: [
          { t: 6 * M, v: 6 },
          { t: 8 * M, v: 8 },
        ],
      },
    ]);
  });

  it("includes an inner step exactly at the window's start, and applies offset", async () => {
    const value = await instantQuery(minutely, subquery(selector("m"), 4 * M, 2 * M, 2 * M), 8 * M);
    expect(seriesOf(value)[0]?.samples.map((s) => s.t)).toEqual([2 * M, 4 * M, 6 * M]);
  });

  it("steps by the default interval when the subquery names none", async () => {
    const value = await instantQuery(minutely, subquery(selector("m"), 3 * M, 0), 5 * M, {
      defaultSubqueryStepMs: 90 * S,
    });
    expect(seriesOf(value)[0]?.samples.map((s) => s.t)).toEqual([3 * M, 4 * M + 30 * S]);
    const byMinute = await instantQuery(minutely, subquery(selector("m"), 3 * M, 0), 5 * M);
    expect(seriesOf(byMinute)[0]?.samples.map((s) => s.t)).toEqual([2 * M, 3 * M, 4 * M, 5 * M]);
  });

  it("turns a scalar inside into a series without labels", async () => {
    const value = await instantQuery(
      minutely,
      subquery({ type: "number", value: 7 }, 2 * M, M),
      2 * M,
    );
    expect(seriesOf(value)).toEqual([
      {
        labels: {},
        samples: [
          { t: 0, v: 7 },
          { t: M, v: 7 },
          { t: 2 * M, v: 7 },
        ],
      },
    ]);
  });

  it("feeds a function one window per outer step", async () => {
    const windows: number[][] = [];
    const maxOverTime = vi
      .spyOn(RANGE_FUNCTIONS as Record<string, RangeFunction>, "max_over_time")
      .mockImplementation((samples, from, to) => {
        windows.push(Array.from(samples.t.subarray(from, to)));
        return 0;
      });
    try {
      const expr = call("max_over_time", subquery(selector("m"), 2 * M, M));
      await rangeQuery(minutely, expr, { start: 4 * M, end: 6 * M, step: 2 * M });
    } finally {
      maxOverTime.mockRestore();
    }
    expect(windows).toEqual([
      [2 * M, 3 * M, 4 * M],
      [4 * M, 5 * M, 6 * M],
    ]);
  });
});

describe("range queries", () => {
  const source = new MemorySource([
    series({ __name__: "g", k: "b" }, 0, M, [1, 2, 3]),
    series({ __name__: "g", k: "a" }, 0, 10 * M, [5, 6]),
  ]);

  it("answers series sorted by labels, a sample per step where there is one", async () => {
    const value = await rangeQuery(source, selector("g"), { start: 0, end: 12 * M, step: 4 * M });
    expect(seriesOf(value)).toEqual([
      {
        labels: { __name__: "g", k: "a" },
        samples: [
          { t: 0, v: 5 },
          { t: 4 * M, v: 5 },
          { t: 12 * M, v: 6 },
        ],
      },
      {
        labels: { __name__: "g", k: "b" },
        samples: [
          { t: 0, v: 1 },
          { t: 4 * M, v: 3 },
        ],
      },
    ]);
  });

  it("answers a scalar as one series without labels", async () => {
    const value = await rangeQuery(
      source,
      { type: "number", value: 2 },
      { start: 0, end: 2 * M, step: M },
    );
    expect(seriesOf(value)).toEqual([
      {
        labels: {},
        samples: [
          { t: 0, v: 2 },
          { t: M, v: 2 },
          { t: 2 * M, v: 2 },
        ],
      },
    ]);
  });

  it("refuses range vectors and strings", async () => {
    const range = { start: 0, end: M, step: M };
    await expect(rangeQuery(source, matrix(selector("g"), M), range)).rejects.toMatchObject({
      kind: "bad_data",
      message:
        'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    });
    await expect(rangeQuery(source, { type: "string", value: "x" }, range)).rejects.toMatchObject({
      kind: "bad_data",
    });
  });

  it("validates the range as Prometheus' API does", async () => {
    const expr = selector("g");
    await expect(rangeQuery(source, expr, { start: 0, end: M, step: 0 })).rejects.toMatchObject({
      kind: "bad_data",
    });
    await expect(rangeQuery(source, expr, { start: M, end: 0, step: S })).rejects.toMatchObject({
      kind: "bad_data",
    });
    await expect(rangeQuery(source, expr, { start: 0, end: 11_001 * S, step: S })).rejects.toThrow(
      /exceeded maximum resolution of 11,000 points per timeseries/,
    );
    await expect(
      rangeQuery(source, expr, { start: 0, end: 11_000 * S, step: S }),
    ).resolves.toBeDefined();
  });

  it("answers instant values as they are", async () => {
    expect(await instantQuery(source, { type: "number", value: 3 }, M)).toEqual({
      type: "scalar",
      t: M,
      v: 3,
    });
    expect(await instantQuery(source, { type: "string", value: "hi" }, M)).toEqual({
      type: "string",
      t: M,
      v: "hi",
    });
  });
});

describe("unary operators and duplicate label sets", () => {
  const source = new MemorySource([
    series({ __name__: "x", k: "1" }, 0, M, [1, 2]),
    series({ __name__: "y", k: "1" }, 10 * M, M, [3]),
  ]);
  const both = selector("x", { matchers: [] });
  both.matchers = [{ name: "__name__", op: "=~", value: "x|y" }];
  delete both.name;

  it("negates and drops the metric name", async () => {
    const value = await instantQuery(source, { type: "unary", op: "-", expr: selector("x") }, M);
    expect(vectorOf(value)).toEqual([{ labels: { k: "1" }, t: M, v: -2 }]);
    const scalar = await instantQuery(
      source,
      { type: "unary", op: "-", expr: { type: "number", value: 2 } },
      0,
    );
    expect(scalar).toMatchObject({ type: "scalar", v: -2 });
  });

  it("fails when dropping the name makes two series the same, even at different steps", async () => {
    const negated: Expr = { type: "unary", op: "-", expr: both };
    await expect(
      rangeQuery(source, negated, { start: 0, end: 10 * M, step: M }),
    ).rejects.toMatchObject({
      kind: "execution",
      message: "vector cannot contain metrics with the same labelset",
    });
  });

  it("fails when a function answers the same label set twice at a step", async () => {
    vi.mocked(callFunction).mockImplementation((_name, _args, context) => ({
      type: "vector",
      value: [
        { labels: { a: "1" }, t: context.ts, v: 1 },
        { labels: { a: "1" }, t: context.ts, v: 2 },
      ],
    }));
    try {
      await expect(instantQuery(source, call("abs", selector("x")), M)).rejects.toMatchObject({
        kind: "execution",
        message: "vector cannot contain metrics with the same labelset",
      });
    } finally {
      vi.mocked(callFunction).mockRestore();
    }
  });
});

describe("timestamp()", () => {
  it("sees a selected sample's own time", async () => {
    const source = new MemorySource([series({ __name__: "m" }, 15 * S, M, [1, 2])]);
    let received: Value[] = [];
    vi.mocked(callFunction).mockImplementation((_name, args, context) => {
      received = args;
      return { type: "vector", value: [{ labels: {}, t: context.ts, v: 0 }] };
    });
    try {
      await instantQuery(source, call("timestamp", { type: "paren", expr: selector("m") }), 2 * M);
    } finally {
      vi.mocked(callFunction).mockRestore();
    }
    expect(received).toEqual([
      { type: "vector", value: [{ labels: { __name__: "m" }, t: M + 15 * S, v: 2 }] },
    ]);
  });
});

describe("agreement with Prometheus 2.42 (values taken from its answers)", () => {
  const xy = new MemorySource([
    series({ __name__: "x", k: "1" }, 0, M, [1, 2]),
    series({ __name__: "y", k: "1" }, 10 * M, M, [3]),
  ]);
  const xOrY: VectorSelector = {
    type: "vectorSelector",
    matchers: [{ name: "__name__", op: "=~", value: "x|y" }],
    offsetMs: 0,
  };

  it("sums a subquery's window moved by its offset", async () => {
    const expr = call("sum_over_time", subquery(selector("m"), 3 * M, M, M));
    const value = await rangeQuery(minutely, expr, { start: 5 * M, end: 400 * S, step: 50 * S });
    expect(seriesOf(value)).toEqual([
      {
        labels: { job: "a" },
        samples: [
          { t: 5 * M, v: 10 },
          { t: 350 * S, v: 9 },
          { t: 400 * S, v: 12 },
        ],
      },
    ]);
  });

  it("fails a range function whose outputs clash across steps", async () => {
    const expr = call("count_over_time", matrix(xOrY, M));
    await expect(rangeQuery(xy, expr, { start: 0, end: 10 * M, step: M })).rejects.toMatchObject({
      kind: "execution",
      message: "vector cannot contain metrics with the same labelset",
    });
  });

  it("gives timestamp() over a pinned aggregation the step's time", async () => {
    const pinnedSum: Expr = {
      type: "aggregate",
      op: "sum",
      expr: selector("m", { at: { kind: "time", ms: 5 * M } }),
      grouping: [],
      without: false,
    };
    const value = await rangeQuery(minutely, call("timestamp", pinnedSum), {
      start: 0,
      end: 2 * M,
      step: M,
    });
    expect(seriesOf(value)[0]?.samples).toEqual([
      { t: 0, v: 0 },
      { t: M, v: 60 },
      { t: 2 * M, v: 120 },
    ]);
  });

  it("applies the offset after @ in timestamp(selector)", async () => {
    let received: Value[] = [];
    vi.mocked(callFunction).mockImplementation((_name, args, context) => {
      received = args;
      return { type: "vector", value: [{ labels: {}, t: context.ts, v: 0 }] };
    });
    try {
      const pinned = selector("m", { at: { kind: "time", ms: 5 * M }, offsetMs: M });
      await instantQuery(minutely, call("timestamp", pinned), 1000 * S);
    } finally {
      vi.mocked(callFunction).mockRestore();
    }
    expect(received).toEqual([
      { type: "vector", value: [{ labels: { __name__: "m", job: "a" }, t: 4 * M, v: 4 }] },
    ]);
  });
});

describe("step-invariant subexpressions", () => {
  it("are evaluated once and repeated at every step", async () => {
    const pinned = call("abs", selector("m", { at: { kind: "time", ms: 3 * M } }));
    const value = await rangeQuery(minutely, pinned, { start: 0, end: 4 * M, step: 2 * M });
    expect(vi.mocked(callFunction)).toHaveBeenCalledTimes(1);
    expect(seriesOf(value)).toEqual([
      {
        labels: { job: "a" },
        samples: [
          { t: 0, v: 3 },
          { t: 2 * M, v: 3 },
          { t: 4 * M, v: 3 },
        ],
      },
    ]);
  });

  it("except under functions of the evaluation time", async () => {
    const value = await rangeQuery(minutely, call("time"), { start: 0, end: 2 * M, step: M });
    expect(seriesOf(value)[0]?.samples.map((s) => s.v)).toEqual([0, 60, 120]);
  });
});

describe("external values", () => {
  const key = "pushed";
  const pushed: Series[] = [
    {
      labels: { job: "a" },
      samples: [
        { t: 0, v: 1 },
        { t: 2 * M, v: 3 },
      ],
    },
    { labels: { job: "b" }, samples: [{ t: M, v: 2 }] },
  ];
  const original = selector("up");

  it("answers the series with a sample at each step", async () => {
    const value = await evaluate(
      { type: "external", key, resultType: "vector", original },
      { start: 0, end: 2 * M, step: M },
      new Map(),
      { externals: new Map([[key, pushed]]) },
    );
    expect(seriesOf(value)).toEqual([
      {
        labels: { job: "a" },
        samples: [
          { t: 0, v: 1 },
          { t: 2 * M, v: 3 },
        ],
      },
      { labels: { job: "b" }, samples: [{ t: M, v: 2 }] },
    ]);
  });

  it("answers NaN for a scalar without a sample", async () => {
    const value = await evaluate(
      { type: "external", key, resultType: "scalar", original },
      { start: M, end: M, step: 0 },
      new Map(),
      {
        externals: new Map([[key, pushed]]),
      },
    );
    expect(value).toMatchObject({ type: "scalar", t: M });
    expect(value.type === "scalar" && Number.isNaN(value.v)).toBe(true);
  });
});

describe("selectorReads", () => {
  const range = { start: 100 * M, end: 200 * M, step: M };
  const reads = (expr: Expr) =>
    selectorReads(expr, range).map(({ start, end }) => ({ start, end }));

  it("widens by the lookback or the range, and moves by offset", () => {
    expect(reads(selector("a"))).toEqual([{ start: 95 * M, end: 200 * M }]);
    expect(selectorReads(selector("a"), range, { lookbackMs: M })[0]).toMatchObject({
      start: 99 * M,
    });
    expect(reads(matrix(selector("a", { offsetMs: 10 * M }), 30 * M))).toEqual([
      { start: 60 * M, end: 190 * M },
    ]);
    expect(reads(selector("a", { offsetMs: -10 * M }))).toEqual([{ start: 105 * M, end: 210 * M }]);
  });

  it("narrows to the instant of @", () => {
    expect(reads(selector("a", { at: { kind: "time", ms: 50 * M }, offsetMs: M }))).toEqual([
      { start: 44 * M, end: 49 * M },
    ]);
    expect(reads(matrix(selector("a", { at: { kind: "end" } }), 10 * M))).toEqual([
      { start: 190 * M, end: 200 * M },
    ]);
    expect(reads(selector("a", { at: { kind: "start" } }))).toEqual([
      { start: 95 * M, end: 100 * M },
    ]);
  });

  it("adds enclosing subqueries' ranges and offsets, reset by a subquery's @", () => {
    const inner = subquery(matrix(selector("a"), 5 * M), 20 * M, M, 10 * M);
    expect(reads(call("max_over_time", inner))).toEqual([{ start: 65 * M, end: 190 * M }]);
    const outer = subquery(call("rate", inner), 30 * M, M);
    expect(reads(outer)).toEqual([{ start: 35 * M, end: 190 * M }]);
    const pinned: SubqueryExpr = {
      ...subquery(call("rate", inner), 30 * M, M),
      at: { kind: "time", ms: 10 * M },
    };
    expect(reads(pinned)).toEqual([{ start: -55 * M, end: 0 }]);
  });

  it("reports every selector, each with its own node", () => {
    const a = selector("a");
    const b = selector("b");
    const found = selectorReads(
      { type: "binary", op: "+", lhs: a, rhs: b, returnBool: false },
      range,
    );
    expect(found.map((r) => r.selector)).toEqual([a, b]);
  });
});

describe("reading", () => {
  it("fetches identical selections once, each with the range it needs", async () => {
    const asked: { matchers: LabelMatcher[]; start: number; end: number }[] = [];
    const counting = {
      select: async (matchers: LabelMatcher[], hints: { start: number; end: number }) => {
        asked.push({ matchers, start: hints.start, end: hints.end });
        return minutely.select(matchers, hints);
      },
    };
    const expr: Expr = {
      type: "binary",
      op: "+",
      lhs: selector("m"),
      rhs: { type: "paren", expr: selector("m") },
      returnBool: false,
      matching: { card: "one-to-one", on: false, labels: [], include: [] },
    };
    const value = await instantQuery(counting, expr, 10 * M);
    expect(asked).toEqual([{ matchers: selector("m").matchers, start: 5 * M, end: 10 * M }]);
    expect(valuesOf(value)).toEqual([20]);
  });
});

describe("limits and fairness", () => {
  const many = new MemorySource(
    Array.from({ length: 300 }, (_, i) =>
      series({ __name__: "big", i: String(i) }, 0, 15 * S, Array(500).fill(i)),
    ),
  );
  const longRange = { start: 0, end: 500 * 15 * S, step: 15 * S };

  it("fails a query that would hold too many samples", async () => {
    await expect(
      rangeQuery(many, selector("big"), longRange, { maxSamples: 1000 }),
    ).rejects.toMatchObject({
      kind: "execution",
      message: "query processing would load too many samples into memory in query execution",
    });
    await expect(
      rangeQuery(many, selector("big"), longRange, { maxSamples: 1_000_000 }),
    ).resolves.toBeDefined();
  });

  it("ends as canceled once aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      rangeQuery(many, selector("big"), longRange, { signal: controller.signal }),
    ).rejects.toMatchObject({
      kind: "canceled",
    });
  });

  it("ends as timed out when the abort reason is a timeout", async () => {
    const controller = new AbortController();
    controller.abort(new DOMException("deadline", "TimeoutError"));
    await expect(
      rangeQuery(many, selector("big"), longRange, { signal: controller.signal }),
    ).rejects.toMatchObject({
      kind: "timeout",
    });
  });

  it("gives way to other work during a long evaluation and notices an abort there", async () => {
    const events: string[] = [];
    const controller = new AbortController();
    // A fine subquery over many series keeps the evaluator busy for many slices.
    const busy = subquery(selector("big"), 120 * M, S);
    const query = instantQuery(many, busy, 120 * M, { signal: controller.signal }).then(
      () => events.push("finished"),
      (error: unknown) => events.push(error instanceof PromQLError ? error.kind : "other error"),
    );
    setTimeout(() => {
      events.push("timer");
      controller.abort();
    }, 0);
    await query;
    expect(events).toEqual(["timer", "canceled"]);
  });
});
