/**
 * Aggregation operators. Expected values marked "2.42" are what Prometheus 2.42 answers for the
 * same input, series in the order given.
 */
import { describe, expect, it } from "vitest";
import { aggregate, groupLabels } from "../src/aggregate.ts";
import { goSort } from "../src/aggregate-topk.ts";
import type { AggregateExpr, AggregateOp } from "../src/ast.ts";
import { PromQLError } from "../src/errors.ts";
import { formatSampleValue } from "../src/format.ts";
import type { Labels, Vector } from "../src/values.ts";

const TS = 60_000;

function vec(...samples: [Labels, number][]): Vector {
  return samples.map(([labels, v]) => ({ labels, t: 1_000, v }));
}

function node(op: AggregateOp, grouping: string[] = [], without = false): AggregateExpr {
  return { type: "aggregate", op, expr: { type: "number", value: 0 }, grouping, without };
}

function run(
  op: AggregateOp,
  input: Vector,
  options: { by?: string[]; without?: string[]; param?: number | string } = {},
): [Labels, number][] {
  const grouping = options.without ?? options.by ?? [];
  const result = aggregate(
    node(op, grouping, options.without !== undefined),
    input,
    options.param,
    TS,
  );
  for (const sample of result) expect(sample.t).toBe(TS);
  return result.map((sample) => [sample.labels, sample.v]);
}

function only(op: AggregateOp, values: number[], param?: number): number {
  const input = vec(
    ...values.map((v, i): [Labels, number] => [{ __name__: "m", i: String(i) }, v]),
  );
  const result = run(op, input, param === undefined ? {} : { param });
  expect(result).toHaveLength(1);
  return (result[0] as [Labels, number])[1];
}

const http = vec(
  [{ __name__: "req", job: "api", instance: "a", code: "200" }, 10],
  [{ __name__: "req", job: "api", instance: "b", code: "200" }, 30],
  [{ __name__: "req", job: "api", instance: "a", code: "500" }, 2],
  [{ __name__: "req", job: "db", instance: "c", code: "200" }, 7],
);

describe("grouping", () => {
  it("without a clause aggregates everything into one sample with no labels", () => {
    expect(run("sum", http)).toEqual([[{}, 49]]);
  });

  it("by keeps only the listed labels, groups in order of first appearance", () => {
    expect(run("sum", http, { by: ["job"] })).toEqual([
      [{ job: "api" }, 42],
      [{ job: "db" }, 7],
    ]);
    expect(run("sum", http, { by: ["code", "job"] })).toEqual([
      [{ job: "api", code: "200" }, 40],
      [{ job: "api", code: "500" }, 2],
      [{ job: "db", code: "200" }, 7],
    ]);
  });

  it("by a label no series has gives one group without labels", () => {
    expect(run("count", http, { by: ["zone"] })).toEqual([[{}, 4]]);
  });

  it("by __name__ keeps the metric name", () => {
    expect(run("max", http, { by: ["__name__"] })).toEqual([[{ __name__: "req" }, 30]]);
  });

  it("without drops the listed labels and the metric name", () => {
    expect(run("sum", http, { without: ["instance"] })).toEqual([
      [{ job: "api", code: "200" }, 40],
      [{ job: "api", code: "500" }, 2],
      [{ job: "db", code: "200" }, 7],
    ]);
    expect(run("sum", http, { without: [] })).toHaveLength(4);
    expect(run("sum", http, { without: [] })[0]?.[0]).toEqual({
      job: "api",
      instance: "a",
      code: "200",
    });
  });

  it("an empty input gives an empty result", () => {
    expect(run("sum", [])).toEqual([]);
    expect(run("count", [], { by: ["job"] })).toEqual([]);
  });

  it("groupLabels is the group's label set", () => {
    expect(groupLabels({ __name__: "x", a: "1", b: "2" }, ["a"], false)).toEqual({ a: "1" });
    expect(groupLabels({ __name__: "x", a: "1", b: "2" }, ["a"], true)).toEqual({ b: "2" });
  });
});

describe("sum, count, group, min, max", () => {
  it("sum adds, NaN and infinities propagating", () => {
    expect(only("sum", [1, 2, 3.5])).toBe(6.5);
    expect(only("sum", [1, Number.NaN])).toBeNaN();
    expect(only("sum", [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])).toBeNaN();
    // Plain left-to-right addition, as 2.42 (no compensated summation).
    expect(only("sum", [0.1, 0.2, 0.3])).toBe(0.1 + 0.2 + 0.3);
  });

  it("count counts samples, NaN ones too", () => {
    expect(only("count", [Number.NaN, 5, 5])).toBe(3);
  });

  it("group is 1 per group", () => {
    expect(run("group", http, { by: ["job"] })).toEqual([
      [{ job: "api" }, 1],
      [{ job: "db" }, 1],
    ]);
  });

  it("min and max: a number replaces NaN, NaN never replaces a number", () => {
    expect(only("max", [Number.NaN, 1, 3, 2])).toBe(3);
    expect(only("max", [1, Number.NaN, 3])).toBe(3);
    expect(only("min", [Number.NaN, 4, 2, Number.NaN])).toBe(2);
    expect(only("min", [Number.NaN, Number.NaN])).toBeNaN();
    expect(only("max", [Number.NEGATIVE_INFINITY, -5])).toBe(-5);
  });
});

describe("avg", () => {
  it("is the incremental mean", () => {
    expect(only("avg", [3, 4])).toBe(3.5);
    // 2.42: 0.33999999999999997 for these in this order.
    expect(only("avg", [0.1, 0.2, 0.3, 0.4, 0.7])).toBe(0.33999999999999997);
  });

  it("does not overflow where the sum would", () => {
    expect(only("avg", [1e308, 1e308, 1e308])).toBe(1e308); // 2.42
    expect(only("avg", [1.7e308, 1.7e308, -1e308])).toBeCloseTo(8e307, -300);
  });

  it("keeps an infinite mean unless a NaN or an opposite infinity arrives", () => {
    expect(only("avg", [Number.POSITIVE_INFINITY, 5, Number.POSITIVE_INFINITY])).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(only("avg", [1, Number.NEGATIVE_INFINITY, 3])).toBe(Number.NEGATIVE_INFINITY);
    expect(only("avg", [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])).toBeNaN();
    expect(only("avg", [Number.POSITIVE_INFINITY, Number.NaN])).toBeNaN();
  });
});

describe("stddev and stdvar", () => {
  it("are the population variance and its root, by Welford's algorithm", () => {
    expect(only("stdvar", [2, 4, 4, 4, 5, 5, 7, 9])).toBe(4);
    expect(only("stddev", [2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    // 2.42's answers for these values in this order.
    expect(only("stdvar", [0.1, 0.2, 0.3, 0.4, 0.7])).toBe(0.04239999999999999);
    expect(only("stddev", [0.1, 0.2, 0.3, 0.4, 0.7])).toBe(0.20591260281974);
  });

  it("of one sample is 0; NaN propagates", () => {
    expect(only("stddev", [42])).toBe(0);
    expect(only("stdvar", [1, Number.NaN])).toBeNaN();
  });
});

describe("topk and bottomk", () => {
  const input = vec(
    [{ __name__: "m", i: "1" }, 1],
    [{ __name__: "m", i: "2" }, 5],
    [{ __name__: "m", i: "3" }, 3],
    [{ __name__: "m", i: "4" }, 4],
  );

  it("keep the original series, metric name included, best first", () => {
    expect(run("topk", input, { param: 2 })).toEqual([
      [{ __name__: "m", i: "2" }, 5],
      [{ __name__: "m", i: "4" }, 4],
    ]);
    expect(run("bottomk", input, { param: 3 })).toEqual([
      [{ __name__: "m", i: "1" }, 1],
      [{ __name__: "m", i: "3" }, 3],
      [{ __name__: "m", i: "4" }, 4],
    ]);
  });

  it("truncate k, give nothing for k below 1, everything for a k beyond the input", () => {
    expect(run("topk", input, { param: 2.9 })).toHaveLength(2);
    expect(run("topk", input, { param: 0.5 })).toEqual([]);
    expect(run("topk", input, { param: -3 })).toEqual([]);
    expect(run("bottomk", input, { param: 100 }).map(([, v]) => v)).toEqual([1, 3, 4, 5]);
  });

  it("refuse a k that does not fit an int64, as 2.42", () => {
    expect(() => run("topk", input, { param: 1e20 })).toThrow("Scalar value 1e+20 overflows int64");
    expect(() => run("topk", input, { param: Number.NaN })).toThrow(
      "Scalar value NaN overflows int64",
    );
    try {
      run("bottomk", input, { param: Number.POSITIVE_INFINITY });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PromQLError);
      expect((error as PromQLError).kind).toBe("execution");
    }
  });

  it("work per group", () => {
    expect(run("topk", http, { by: ["job"], param: 1 })).toEqual([
      [{ __name__: "req", job: "api", instance: "b", code: "200" }, 30],
      [{ __name__: "req", job: "db", instance: "c", code: "200" }, 7],
    ]);
  });

  it("rank a NaN below every number, and replace a kept NaN even by NaN", () => {
    const withNaN = vec(
      [{ i: "nan1" }, Number.NaN],
      [{ i: "one" }, 1],
      [{ i: "nan2" }, Number.NaN],
      [{ i: "two" }, 2],
    );
    expect(run("topk", withNaN, { param: 1 })).toEqual([[{ i: "two" }, 2]]);
    expect(run("bottomk", withNaN, { param: 1 })).toEqual([[{ i: "one" }, 1]]);
    // nan2 takes the heap's top, is popped for "two", and nan1 stays: Go's heap steps.
    const topThree = run("topk", withNaN, { param: 3 });
    expect(topThree.map(([labels]) => labels.i)).toEqual(["two", "one", "nan1"]);
    const onlyNaN = vec([{ i: "a" }, Number.NaN], [{ i: "b" }, Number.NaN]);
    expect(run("topk", onlyNaN, { param: 1 })).toEqual([[{ i: "b" }, Number.NaN]]);
  });

  it("order ties as Go's heap and insertion sort leave them", () => {
    const ties = vec([{ i: "a" }, 5], [{ i: "b" }, 5], [{ i: "c" }, 5], [{ i: "d" }, 1]);
    // The heap holds a, b, c after they arrive; d is worse than the top and dropped.
    expect(run("topk", ties, { param: 3 }).map(([labels]) => labels.i)).toEqual(["a", "b", "c"]);
    // With k = 2: the heap [a, b]; c does not beat the top (5 < 5 is false).
    expect(run("topk", ties, { param: 2 }).map(([labels]) => labels.i)).toEqual(["a", "b"]);
  });
});

describe("goSort", () => {
  it("sorts small and large arrays, with NaN-first comparisons", () => {
    const values = Array.from({ length: 200 }, (_, i) => (i * 7919) % 211);
    const sorted = [...values];
    goSort(sorted, (a, b) => a < b);
    expect(sorted).toEqual([...values].sort((a, b) => a - b));
    const withNaN = [3, Number.NaN, 1, 2];
    goSort(withNaN, (a, b) => Number.isNaN(a) || a < b);
    expect(withNaN).toEqual([Number.NaN, 1, 2, 3]);
  });

  it("is stable on up to 12 elements, as Go's insertion sort", () => {
    const items = Array.from({ length: 12 }, (_, i) => ({ key: i % 3, id: i }));
    goSort(items, (a, b) => a.key < b.key);
    expect(items.map((item) => item.id)).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
  });
});

describe("quantile", () => {
  it("interpolates linearly between ranks", () => {
    expect(only("quantile", [1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(only("quantile", [4, 1, 3, 2], 0.25)).toBe(1.75);
    expect(only("quantile", [10, 0], 0)).toBe(0);
    expect(only("quantile", [10, 0], 1)).toBe(10);
    expect(only("quantile", [0.1, 0.2, 0.3, 0.4, 0.7], 0.5)).toBe(0.3); // 2.42
  });

  it("gives ±Inf for φ outside [0, 1] and NaN for a NaN φ", () => {
    expect(only("quantile", [1, 2], -0.1)).toBe(Number.NEGATIVE_INFINITY);
    expect(only("quantile", [1, 2], 1.1)).toBe(Number.POSITIVE_INFINITY);
    expect(only("quantile", [1, 2], Number.NaN)).toBeNaN();
  });

  it("sorts NaN values first", () => {
    expect(only("quantile", [5, Number.NaN, 1], 1)).toBe(5);
    expect(only("quantile", [5, Number.NaN, 1], 0.5)).toBe(1);
  });

  it("keeps the group's labels", () => {
    expect(run("quantile", http, { by: ["job"], param: 0.5 })).toEqual([
      [{ job: "api" }, 10],
      [{ job: "db" }, 7],
    ]);
  });
});

describe("count_values", () => {
  const input = vec(
    [{ __name__: "m", job: "a", i: "1" }, 1],
    [{ __name__: "m", job: "a", i: "2" }, 1],
    [{ __name__: "m", job: "b", i: "3" }, 2.5],
    [{ __name__: "m", job: "b", i: "4" }, 1],
  );

  it("counts samples per value, the value as a label", () => {
    expect(run("count_values", input, { param: "value" })).toEqual([
      [{ value: "1" }, 3],
      [{ value: "2.5" }, 1],
    ]);
  });

  it("adds the value label to by and to the kept labels of without", () => {
    expect(run("count_values", input, { param: "v", by: ["job"] })).toEqual([
      [{ job: "a", v: "1" }, 2],
      [{ job: "b", v: "2.5" }, 1],
      [{ job: "b", v: "1" }, 1],
    ]);
    expect(run("count_values", input, { param: "v", without: ["i"] })).toEqual([
      [{ job: "a", v: "1" }, 2],
      [{ job: "b", v: "2.5" }, 1],
      [{ job: "b", v: "1" }, 1],
    ]);
  });

  it("overwrites an existing label of that name", () => {
    expect(run("count_values", input, { param: "job" })).toEqual([
      [{ job: "1" }, 3],
      [{ job: "2.5" }, 1],
    ]);
  });

  it("refuses an invalid label name", () => {
    expect(() => run("count_values", input, { param: "1x" })).toThrow('invalid label name "1x"');
    expect(() => run("count_values", input, { param: "" })).toThrow(PromQLError);
  });

  it("writes values as Go's FormatFloat(v, 'f', -1), never with an exponent", () => {
    expect(formatSampleValue(1)).toBe("1");
    expect(formatSampleValue(-2.5)).toBe("-2.5");
    expect(formatSampleValue(0.1)).toBe("0.1");
    expect(formatSampleValue(1e21)).toBe("1000000000000000000000");
    expect(formatSampleValue(1.5e22)).toBe("15000000000000000000000");
    expect(formatSampleValue(1e-7)).toBe("0.0000001");
    expect(formatSampleValue(1.25e-10)).toBe("0.000000000125");
    expect(formatSampleValue(123456789.123)).toBe("123456789.123");
    expect(formatSampleValue(2 ** 53 + 2)).toBe("9007199254740994");
    expect(formatSampleValue(Number.POSITIVE_INFINITY)).toBe("+Inf");
    expect(formatSampleValue(Number.NEGATIVE_INFINITY)).toBe("-Inf");
    expect(formatSampleValue(Number.NaN)).toBe("NaN");
    expect(formatSampleValue(0)).toBe("0");
    expect(formatSampleValue(-0)).toBe("-0");
    expect(formatSampleValue(1e-300)).toBe(`0.${"0".repeat(299)}1`);
  });

  it("groups NaN and infinite values under their Go spellings", () => {
    const odd = vec(
      [{ i: "1" }, Number.NaN],
      [{ i: "2" }, Number.POSITIVE_INFINITY],
      [{ i: "3" }, Number.NaN],
    );
    expect(run("count_values", odd, { param: "v" })).toEqual([
      [{ v: "NaN" }, 2],
      [{ v: "+Inf" }, 1],
    ]);
  });
});
