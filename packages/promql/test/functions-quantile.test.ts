/**
 * histogram_quantile over classic buckets and the quantile helpers. Expected values marked
 * "2.42" are what Prometheus 2.42 answers for the same buckets.
 */
import { describe, expect, it } from "vitest";
import type { FunctionCall } from "../src/ast.ts";
import { callFunction } from "../src/functions.ts";
import { bucketQuantile, parseGoFloat, quantile } from "../src/quantile.ts";
import type { Labels, Value, Vector } from "../src/values.ts";

const TS = 100_000;
const call: FunctionCall = { type: "call", name: "histogram_quantile", args: [] };

function buckets(labels: Labels, counts: [string, number][]): [Labels, number][] {
  return counts.map(([le, v]) => [{ __name__: "hq", ...labels, le }, v]);
}

function histogramQuantile(q: number, ...samples: [Labels, number][]): Vector {
  const input: Value = {
    type: "vector",
    value: samples.map(([labels, v]) => ({ labels, t: TS, v })),
  };
  const result = callFunction("histogram_quantile", [{ type: "scalar", t: TS, v: q }, input], {
    ts: TS,
    rangeStart: TS,
    rangeEnd: TS,
    call,
  });
  if (result.type !== "vector") throw new Error(`expected a vector, got ${result.type}`);
  return result.value;
}

/** The Prometheus test histogram: le 0.1, 0.5, 1 (written twice), +Inf. */
const mixed = buckets({}, [
  ["0.1", 1],
  ["0.5", 3],
  ["1", 2],
  ["1.0", 1],
  ["+Inf", 10],
]);

describe("histogram_quantile", () => {
  it("merges equal bounds, fixes monotonicity and interpolates (2.42)", () => {
    expect(histogramQuantile(0.5, ...mixed)).toEqual([{ labels: {}, t: TS, v: 1 }]);
    expect(histogramQuantile(0.9, ...mixed)[0]?.v).toBe(1);
    expect(histogramQuantile(0, ...mixed)[0]?.v).toBe(0);
    expect(histogramQuantile(0.05, ...mixed)[0]?.v).toBeCloseTo(0.05, 14);
    expect(histogramQuantile(0.2, ...mixed)[0]?.v).toBeCloseTo(0.3, 14);
  });

  it("handles q outside [0, 1] and NaN (2.42)", () => {
    expect(histogramQuantile(-0.5, ...mixed)[0]?.v).toBe(-Infinity);
    expect(histogramQuantile(1.5, ...mixed)[0]?.v).toBe(Infinity);
    expect(histogramQuantile(NaN, ...mixed)[0]?.v).toBeNaN();
  });

  it("needs a +Inf bucket and at least two buckets (2.42)", () => {
    const noInf = buckets({}, [
      ["1", 1],
      ["2", 2],
    ]);
    expect(histogramQuantile(0.5, ...noInf)[0]?.v).toBeNaN();
    const onlyInf = buckets({}, [
      ["+Inf", 5],
      ["1e400", 3],
    ]);
    expect(histogramQuantile(0.5, ...onlyInf)[0]?.v).toBeNaN();
  });

  it("gives NaN without observations, even for a first bucket at or below zero (2.42)", () => {
    expect(
      histogramQuantile(
        0.5,
        ...buckets({}, [
          ["-1", 0],
          ["+Inf", 0],
        ]),
      )[0]?.v,
    ).toBeNaN();
    expect(
      histogramQuantile(
        0.5,
        ...buckets({}, [
          ["0", 0],
          ["+Inf", 0],
        ]),
      )[0]?.v,
    ).toBeNaN();
  });

  it("answers the first bucket's bound when it is not positive", () => {
    expect(
      histogramQuantile(
        0.1,
        ...buckets({}, [
          ["-1", 5],
          ["+Inf", 10],
        ]),
      )[0]?.v,
    ).toBe(-1);
  });

  it("answers the highest finite bound for ranks in the +Inf bucket", () => {
    expect(
      histogramQuantile(
        0.99,
        ...buckets({}, [
          ["2", 5],
          ["+Inf", 10],
        ]),
      )[0]?.v,
    ).toBe(2);
  });

  it("reads le as Go's ParseFloat (2.42)", () => {
    const hex = buckets({ x: "h" }, [
      ["0x1p1", 5],
      ["+Inf", 10],
    ]);
    expect(histogramQuantile(0.5, ...hex)[0]?.v).toBe(2);
    const underscore = buckets({ x: "u" }, [
      ["1_0", 5],
      ["+Inf", 10],
    ]);
    expect(histogramQuantile(0.5, ...underscore)[0]?.v).toBe(10);
    const infinity = buckets({ x: "i" }, [
      ["infinity", 5],
      ["0.5", 2],
    ]);
    expect(histogramQuantile(0.9, ...infinity)[0]?.v).toBe(0.5);
  });

  it("groups by labels without le, never merging metric names, and skips series without le", () => {
    const out = histogramQuantile(
      0.5,
      ...buckets({ job: "a" }, [
        ["1", 4],
        ["+Inf", 8],
      ]),
      ...buckets({ job: "b" }, [
        ["1", 8],
        ["+Inf", 8],
      ]),
      [{ __name__: "other", job: "a", le: "1" }, 1],
      [{ __name__: "other", job: "a", le: "+Inf" }, 1],
      [{ __name__: "hq", job: "a" }, 100],
      [{ __name__: "hq", job: "a", le: "junk" }, 100],
    );
    expect(out).toEqual([
      { labels: { job: "a" }, t: TS, v: 1 },
      { labels: { job: "b" }, t: TS, v: 0.5 },
      { labels: { job: "a" }, t: TS, v: 0.5 },
    ]);
  });
});

describe("bucketQuantile", () => {
  it("interpolates linearly inside a bucket", () => {
    const b = [
      { upperBound: 1, count: 10 },
      { upperBound: 2, count: 20 },
      { upperBound: Infinity, count: 20 },
    ];
    expect(bucketQuantile(0.75, b)).toBe(1.5);
    expect(bucketQuantile(0.25, b)).toBe(0.5);
  });
});

describe("quantile", () => {
  it("interpolates between ranks and sorts NaN first", () => {
    expect(quantile(0.5, [3, 1, 2])).toBe(2);
    expect(quantile(0.25, [4, 1, 2, 3])).toBe(1.75);
    expect(quantile(0.5, [])).toBeNaN();
    expect(quantile(0, [NaN, 1])).toBeNaN();
    expect(quantile(1, [NaN, 1])).toBe(1);
  });
});

describe("parseGoFloat", () => {
  it("accepts what Go's ParseFloat accepts", () => {
    expect(parseGoFloat("+Inf")).toBe(Infinity);
    expect(parseGoFloat("-inf")).toBe(-Infinity);
    expect(parseGoFloat("Infinity")).toBe(Infinity);
    expect(parseGoFloat("NaN")).toBeNaN();
    expect(parseGoFloat("1e3")).toBe(1000);
    expect(parseGoFloat(".5")).toBe(0.5);
    expect(parseGoFloat("5.")).toBe(5);
    expect(parseGoFloat("0x1.8p1")).toBe(3);
    expect(parseGoFloat("1_000.5")).toBe(1000.5);
  });

  it("rejects what it rejects, and overflow", () => {
    for (const text of [
      "",
      " 1",
      "1 ",
      "abc",
      "1e400",
      "+nan",
      "1__0",
      "_1",
      "1_",
      "0x1",
      "infin",
    ]) {
      expect([text, parseGoFloat(text)]).toEqual([text, undefined]);
    }
  });
});
