import { describe, expect, it } from "vitest";
import type { Expr } from "../src/ast.ts";
import { type FederationPlan, planFederation } from "../src/federate.ts";
import { mergeMoments, mergePushdown, unite } from "../src/federate-merge.ts";
import { parse } from "../src/parse.ts";
import { printExpr } from "../src/print.ts";
import type { Series } from "../src/values.ts";

const INSTANT = { start: 600_000, end: 600_000, step: 0 };
const RANGE = { start: 600_000, end: 1_200_000, step: 60_000 };

function plan(query: string, range = INSTANT): FederationPlan {
  return planFederation(parse(query), range);
}

const partsOf = (p: FederationPlan) => p.parts.map((part) => printExpr(part.expr));

/** The central expression with each external node shown as `<key>`. */
function central(expr: Expr): string {
  const shown = JSON.stringify(expr, (_key, value) =>
    value?.type === "external" ? `<${value.key}>` : value,
  );
  return shown;
}

describe("planFederation", () => {
  it("pushes a series-local expression whole and unites the answers", () => {
    const p = plan('rate(http_requests_total{job="api"}[5m]) * 2');
    expect(partsOf(p)).toEqual(['rate(http_requests_total{job="api"}[5m]) * 2']);
    expect(p.pushdowns).toEqual([{ key: "p0", merge: "union", parts: [0] }]);
    expect(p.central.type).toBe("external");
  });

  it("applies sum, min, max, group, topk again over the partial answers", () => {
    for (const op of ["sum", "min", "max", "group"]) {
      const p = plan(`${op} by (job) (rate(x[5m]))`);
      expect(partsOf(p)).toEqual([`${op} by (job) (rate(x[5m]))`]);
      expect(p.pushdowns[0]?.merge).toBe("concat");
      expect(p.central).toMatchObject({ type: "aggregate", op, grouping: ["job"] });
    }
    const top = plan("topk(3, x)");
    expect(partsOf(top)).toEqual(["topk(3, x)"]);
    expect(top.central).toMatchObject({ type: "aggregate", op: "topk", param: { value: 3 } });
  });

  it("sums the counts, and divides summed sums by summed counts for avg", () => {
    const count = plan("count without (instance) (x)");
    expect(partsOf(count)).toEqual(["count without (instance) (x)"]);
    expect(count.central).toMatchObject({ type: "aggregate", op: "sum", without: true });
    const avg = plan("avg by (job) (x)");
    expect(partsOf(avg)).toEqual(["sum by (job) (x)", "count by (job) (x)"]);
    expect(avg.central).toMatchObject({
      type: "binary",
      op: "/",
      lhs: { type: "aggregate", op: "sum" },
      rhs: { type: "aggregate", op: "sum" },
    });
  });

  it("pushes count, mean and variance for stddev and stdvar", () => {
    const p = plan("stddev by (job) (x)");
    expect(partsOf(p)).toEqual(["count by (job) (x)", "avg by (job) (x)", "stdvar by (job) (x)"]);
    expect(p.pushdowns).toEqual([{ key: "p0", merge: "stddev", parts: [0, 1, 2] }]);
  });

  it("brings the inputs of what needs every series together", () => {
    expect(partsOf(plan("quantile(0.9, rate(x[5m]))"))).toEqual(["rate(x[5m])"]);
    expect(partsOf(plan("histogram_quantile(0.9, rate(b[5m]))"))).toEqual(["rate(b[5m])"]);
    expect(partsOf(plan("a / on (job) b"))).toEqual(["a", "b"]);
    // A constant vector is the same everywhere: united from every instance it would repeat.
    expect(partsOf(plan("x or vector(1)"))).toEqual(["x"]);
    expect(partsOf(plan("1 + 1"))).toEqual([]);
  });

  it("asks for absent_over_time's counts and decides absence centrally", () => {
    const p = plan('absent_over_time(x{job="a"}[5m])');
    expect(partsOf(p)).toEqual(['count_over_time(x{job="a"}[5m])']);
    expect(p.central).toMatchObject({ type: "call", name: "absent" });
  });

  it("evaluates a pushed part inside a subquery at the subquery's steps", () => {
    const p = plan("max_over_time(sum(x)[10m:1m] offset 1m)", RANGE);
    // From the first outer step's window (600 s - 1 m - 10 m) to the last step less the offset.
    expect(p.parts[0]?.range).toEqual({ start: -60_000, end: 1_140_000, step: 60_000 });
    // The default step is written out, so a Prometheus server does not use its own.
    const defaulted = plan("max_over_time(rate(x[5m])[10m:])");
    expect(partsOf(defaulted)).toEqual(["max_over_time(rate(x[5m])[10m:1m])"]);
  });

  it("asks nothing for a subquery window that holds no step", () => {
    const p = plan("max_over_time(sum(x)[30s:1m])", { start: 640_000, end: 640_000, step: 0 });
    expect(p.parts).toEqual([]);
    expect(p.pushdowns).toEqual([{ key: "p0", merge: "concat", parts: [] }]);
    expect(mergePushdown(p.pushdowns[0] as never, [])).toEqual([]);
  });

  it("fixes @ start() and @ end() before parts can be evaluated over other ranges", () => {
    const p = plan("sum(x @ end())", RANGE);
    expect(partsOf(p)).toEqual(["sum(x @ 1200)"]);
  });

  it("unites a series-local range vector, and evaluates any other centrally", () => {
    expect(plan("x[5m]").united).toBe(true);
    const sub = plan("topk(1, x)[10m:1m]");
    expect(sub.united).toBe(false);
    expect(central(sub.central)).toContain('"type":"subquery"');
  });

  it("refuses a range vector it cannot push down", () => {
    expect(() => plan("quantile_over_time(scalar(q), x[5m])")).toThrow(/range vector/);
  });
});

describe("merges", () => {
  const series = (labels: Record<string, string>, ...samples: [number, number][]): Series => ({
    labels,
    samples: samples.map(([t, v]) => ({ t, v })),
  });

  it("unites a series continued in another instance, and refuses one answered twice", () => {
    const united = unite([
      { instance: "a", series: [series({ x: "1" }, [0, 1])] },
      { instance: "b", series: [series({ x: "1" }, [60, 2])] },
    ]);
    expect(united).toEqual([series({ x: "1" }, [0, 1], [60, 2])]);
    expect(() =>
      unite([
        { instance: "a", series: [series({ x: "1" }, [0, 1])] },
        { instance: "b", series: [series({ x: "1" }, [0, 1])] },
      ]),
    ).toThrow(/answered by instances a and b/);
  });

  it("merges variances by the parallel formula, keeping the spread of large values", () => {
    const values = [1e9 + 1, 1e9 + 3, 1e9 + 5, 1e9 + 11];
    const part = (xs: number[]) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
      return {
        count: [series({}, [0, xs.length])],
        mean: [series({}, [0, mean])],
        variance: [series({}, [0, variance])],
      };
    };
    const [merged] = mergeMoments([part(values.slice(0, 1)), part(values.slice(1))], "stdvar");
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const expected = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(merged?.samples[0]?.v).toBeCloseTo(expected, 6);
  });
});
