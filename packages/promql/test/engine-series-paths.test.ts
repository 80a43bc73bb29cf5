/**
 * Range evaluation walks selectors, range functions, aggregations and operators series by
 * series. These cases check that it answers exactly what evaluating each step on its own does,
 * and that the cases it hands back to step-by-step evaluation still answer or fail as before.
 */
import { describe, expect, it } from "vitest";
import { instantQuery, rangeQuery } from "../src/engine.ts";
import { MemorySource } from "../src/memory-source.ts";
import { type Series, staleNaN, type Value } from "../src/values.ts";

const S = 1000;
const M = 60 * S;

function series(labels: Record<string, string>, from: number, every: number, values: number[]) {
  return { labels, samples: values.map((v, i) => ({ t: from + i * every, v })) };
}

function matrixOf(value: Value): Series[] {
  if (value.type !== "matrix") throw new Error(`expected a matrix, got ${value.type}`);
  return value.value;
}

/** The range query's answer built from one instant query per step, as Prometheus lists it. */
async function stepByStep(
  source: MemorySource,
  query: string,
  range: { start: number; end: number; step: number },
): Promise<Series[]> {
  const byKey = new Map<string, Series>();
  for (let t = range.start; t <= range.end; t += range.step) {
    const value = await instantQuery(source, query, t);
    const vector =
      value.type === "scalar"
        ? [{ labels: {}, t, v: value.v }]
        : value.type === "vector"
          ? value.value
          : [];
    for (const sample of vector) {
      const key = JSON.stringify(Object.entries(sample.labels).sort());
      let s = byKey.get(key);
      if (s === undefined) {
        s = { labels: sample.labels, samples: [] };
        byKey.set(key, s);
      }
      s.samples.push({ t, v: sample.v });
    }
  }
  return [...byKey.values()];
}

function sortedByKey(all: Series[]): Series[] {
  const key = (s: Series) => JSON.stringify(Object.entries(s.labels).sort());
  return [...all].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

// Counters with resets and irregular, jittered scrapes; series start and end at different times.
const counters = new MemorySource([
  series({ __name__: "c", job: "a", i: "1" }, 0, 15 * S, [1, 5, 9, 2, 8, 20, 21, 40, 3, 9, 12]),
  series({ __name__: "c", job: "a", i: "2" }, 7 * S, 20 * S, [0.1, 0.3, 0.2, 0.9, 1e9, 1e9 + 1]),
  series({ __name__: "c", job: "b", i: "3" }, 95 * S, 10 * S, [5, 6, 7, 8, 9, 10, 11]),
  series({ __name__: "g", job: "a" }, 0, 30 * S, [1, -2, 3.5, -4, 5]),
  series({ __name__: "g", job: "b" }, 60 * S, 30 * S, [10, 20, 30]),
]);
const range = { start: 30 * S, end: 170 * S, step: 10 * S };

describe("series-by-series range evaluation", () => {
  it.each([
    "c",
    "rate(c[1m])",
    "increase(c[45s])",
    "irate(c[1m])",
    "deriv(c[1m])",
    "avg_over_time(c[1m])",
    "stddev_over_time(c[1m])",
    "quantile_over_time(0.3, c[1m])",
    "predict_linear(c[1m], 60)",
    "last_over_time(c[30s])",
    "sum by (job) (rate(c[1m]))",
    "avg without (i) (c)",
    "count(c)",
    "max by (job) (c) - min by (job) (c)",
    "stdvar by (job) (c)",
    "max_over_time(rate(c[1m])[1m:20s])",
    "c * 2 > 10",
    "10 < bool c",
    "c / on (job) group_left g",
    "g * on (job) group_right c",
    "c - ignoring (i) group_left g",
    "sum by (job) (c) / on (job) group_left count by (job) (c)",
    "rate(c[1m]) / on (job, i) increase(c[1m])",
    "c > bool on (job) group_left g",
  ])("%s", async (query) => {
    const value = await rangeQuery(counters, query, range);
    expect(sortedByKey(matrixOf(value))).toEqual(
      sortedByKey(await stepByStep(counters, query, range)),
    );
  });

  it("leaves staleness markers out of windows and ends instant selections at them", async () => {
    // Built sample by sample: an array of numbers would not keep the marker's NaN bits.
    const values = [1, 2, "stale", 4, 5, "stale", 7];
    const samples = values.map((v, i) => ({ t: i * 10 * S, v: v === "stale" ? staleNaN() : +v }));
    const source = new MemorySource([{ labels: { __name__: "s" }, samples }]);
    const counts = await rangeQuery(source, "count_over_time(s[25s])", {
      start: 20 * S,
      end: 60 * S,
      step: 10 * S,
    });
    expect(matrixOf(counts)[0]?.samples.map((p) => p.v)).toEqual([2, 2, 2, 2, 2]);
    const selected = await rangeQuery(source, "s", { start: 0, end: 60 * S, step: 10 * S });
    expect(matrixOf(selected)[0]?.samples.map((p) => p.t / S)).toEqual([0, 10, 30, 40, 60]);
  });

  it("keeps two series whose labels meet only at different steps", async () => {
    const source = new MemorySource([
      series({ __name__: "x", k: "1" }, 0, M, [1, 2]),
      series({ __name__: "y", k: "1" }, 10 * M, M, [3]),
    ]);
    const value = await rangeQuery(source, '{__name__=~"x|y"} * 2', {
      start: 0,
      end: 10 * M,
      step: 5 * M,
    });
    expect(matrixOf(value)).toEqual([
      {
        labels: { k: "1" },
        samples: [
          { t: 0, v: 2 },
          { t: 5 * M, v: 4 },
          { t: 10 * M, v: 6 },
        ],
      },
    ]);
  });

  it("fails when dropping the name makes two series the same at one step", async () => {
    const source = new MemorySource([
      series({ __name__: "x", k: "1" }, 0, M, [1, 2]),
      series({ __name__: "y", k: "1" }, 0, M, [3]),
    ]);
    await expect(
      rangeQuery(source, '{__name__=~"x|y"} * 2', { start: 0, end: M, step: M }),
    ).rejects.toMatchObject({ message: "vector cannot contain metrics with the same labelset" });
  });

  it("reports a duplicate on the 'one' side and ambiguous one-to-one matches", async () => {
    const source = new MemorySource([
      series({ __name__: "a", job: "j", i: "1" }, 0, M, [1, 2]),
      series({ __name__: "a", job: "j", i: "2" }, M, M, [3]),
      series({ __name__: "b", job: "j" }, 0, M, [1, 2]),
    ]);
    const twoSteps = { start: 0, end: M, step: M };
    await expect(rangeQuery(source, "b * on (job) group_left a", twoSteps)).rejects.toMatchObject({
      message:
        'found duplicate series for the match group {job="j"} on the right hand-side of the operation: ' +
        '[{__name__="a", i="2", job="j"}, {__name__="a", i="1", job="j"}]' +
        ";many-to-many matching not allowed: matching labels must be unique on one side",
    });
    await expect(rangeQuery(source, "a * on (job) b", twoSteps)).rejects.toMatchObject({
      message:
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    });
    // At the first step only one "a" is there, so it matches.
    const first = await rangeQuery(source, "a * on (job) b", { start: 0, end: 0, step: M });
    expect(matrixOf(first)).toEqual([{ labels: { job: "j" }, samples: [{ t: 0, v: 1 }] }]);
  });

  it("follows a group_left whose partner, and so its labels, changes between steps", async () => {
    // Ten minutes apart, each sample is out of the lookback at the next step.
    const source = new MemorySource([
      series({ __name__: "a", job: "j" }, 0, 10 * M, [1, 2, 3]),
      series({ __name__: "info", job: "j", version: "1" }, 0, 10 * M, [1, 1]),
      series({ __name__: "info", job: "j", version: "2" }, 20 * M, 10 * M, [1]),
    ]);
    const value = await rangeQuery(source, "a * on (job) group_left (version) info", {
      start: 0,
      end: 20 * M,
      step: 10 * M,
    });
    expect(matrixOf(value)).toEqual([
      {
        labels: { job: "j", version: "1" },
        samples: [
          { t: 0, v: 1 },
          { t: 10 * M, v: 2 },
        ],
      },
      { labels: { job: "j", version: "2" }, samples: [{ t: 20 * M, v: 3 }] },
    ]);
  });
});
