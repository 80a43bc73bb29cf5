/**
 * Binary operators. Expected values marked "2.42" are what Prometheus 2.42 answers for the same
 * input, series in the order given.
 */
import { describe, expect, it } from "vitest";
import type { BinaryExpr, BinaryOp, VectorMatching } from "../src/ast.ts";
import { binary } from "../src/binary.ts";
import { goAtan2, goPow } from "../src/binary-go-math.ts";
import { PromQLError } from "../src/errors.ts";
import type { Labels, Value } from "../src/values.ts";

const TS = 120_000;
const operand = { type: "number", value: 0 } as const;

function vec(...samples: [Labels, number][]): Value {
  return { type: "vector", value: samples.map(([labels, v]) => ({ labels, t: 7_000, v })) };
}

function scalar(v: number): Value {
  return { type: "scalar", t: 7_000, v };
}

function on(labels: string[], extra: Partial<VectorMatching> = {}): VectorMatching {
  return { card: "one-to-one", on: true, labels, include: [], ...extra };
}

function ignoring(labels: string[], extra: Partial<VectorMatching> = {}): VectorMatching {
  return { card: "one-to-one", on: false, labels, include: [], ...extra };
}

function apply(
  op: BinaryOp,
  lhs: Value,
  rhs: Value,
  options: { matching?: VectorMatching; bool?: boolean } = {},
): Value {
  const node: BinaryExpr = {
    type: "binary",
    op,
    lhs: operand,
    rhs: operand,
    returnBool: options.bool ?? false,
  };
  if (options.matching !== undefined) node.matching = options.matching;
  else if (lhs.type === "vector" && rhs.type === "vector") {
    const setOp = op === "and" || op === "or" || op === "unless";
    node.matching = {
      card: setOp ? "many-to-many" : "one-to-one",
      on: false,
      labels: [],
      include: [],
    };
  }
  return binary(node, lhs, rhs, TS);
}

function samples(value: Value): [Labels, number][] {
  if (value.type !== "vector") throw new Error(`expected a vector, got ${value.type}`);
  for (const sample of value.value) expect(sample.t).toBe(TS);
  return value.value.map((sample) => [sample.labels, sample.v]);
}

function scalarOf(value: Value): number {
  if (value.type !== "scalar") throw new Error(`expected a scalar, got ${value.type}`);
  expect(value.t).toBe(TS);
  return value.v;
}

function executionErrorOf(run: () => unknown): PromQLError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PromQLError);
    expect((error as PromQLError).kind).toBe("execution");
    return error as PromQLError;
  }
  throw new Error("expected an execution error");
}

describe("scalar and scalar", () => {
  it("does arithmetic", () => {
    expect(scalarOf(apply("+", scalar(1), scalar(2)))).toBe(3);
    expect(scalarOf(apply("-", scalar(1), scalar(2)))).toBe(-1);
    expect(scalarOf(apply("*", scalar(3), scalar(2)))).toBe(6);
    expect(scalarOf(apply("/", scalar(1), scalar(0)))).toBe(Number.POSITIVE_INFINITY);
    expect(scalarOf(apply("/", scalar(0), scalar(0)))).toBeNaN();
  });

  it("comparisons (always with bool) give 1 or 0, NaN comparing false but for !=", () => {
    expect(scalarOf(apply(">", scalar(2), scalar(1), { bool: true }))).toBe(1);
    expect(scalarOf(apply("<=", scalar(2), scalar(1), { bool: true }))).toBe(0);
    expect(scalarOf(apply("==", scalar(Number.NaN), scalar(Number.NaN), { bool: true }))).toBe(0);
    expect(scalarOf(apply("!=", scalar(Number.NaN), scalar(Number.NaN), { bool: true }))).toBe(1);
  });

  it("% follows Go's math.Mod: the dividend's sign, NaN for a zero divisor", () => {
    expect(scalarOf(apply("%", scalar(-7), scalar(3)))).toBe(-1); // 2.42
    expect(scalarOf(apply("%", scalar(7), scalar(-3)))).toBe(1); // 2.42
    expect(scalarOf(apply("%", scalar(5.5), scalar(2)))).toBe(1.5);
    expect(scalarOf(apply("%", scalar(5.5), scalar(0)))).toBeNaN(); // 2.42
    expect(scalarOf(apply("%", scalar(5), scalar(Number.POSITIVE_INFINITY)))).toBe(5);
    expect(scalarOf(apply("%", scalar(Number.POSITIVE_INFINITY), scalar(2)))).toBeNaN();
    expect(Object.is(scalarOf(apply("%", scalar(-3), scalar(3))), -0)).toBe(true);
  });

  it("^ is Go's math.Pow, special cases and integer powers included", () => {
    expect(scalarOf(apply("^", scalar(1), scalar(Number.NaN)))).toBe(1); // 2.42
    expect(scalarOf(apply("^", scalar(Number.NaN), scalar(0)))).toBe(1); // 2.42
    expect(scalarOf(apply("^", scalar(1.1), scalar(10)))).toBe(2.593742460100002); // 2.42
    expect(scalarOf(apply("^", scalar(3), scalar(-2)))).toBe(0.1111111111111111); // 2.42
    expect(scalarOf(apply("^", scalar(10), scalar(400)))).toBe(Number.POSITIVE_INFINITY);
    expect(scalarOf(apply("^", scalar(2), scalar(-1074)))).toBe(5e-324); // 2.42
    expect(scalarOf(apply("^", scalar(2), scalar(-1075)))).toBe(0); // 2.42
    expect(scalarOf(apply("^", scalar(1.0000001), scalar(1e9)))).toBe(2.688103843211962e43); // 2.42
    expect(scalarOf(apply("^", scalar(-8), scalar(1 / 3)))).toBeNaN();
    expect(scalarOf(apply("^", scalar(2), scalar(0.5)))).toBe(Math.SQRT2);
  });

  it("Go's Pow special cases", () => {
    expect(goPow(-1, Number.POSITIVE_INFINITY)).toBe(1);
    expect(goPow(-1, Number.NEGATIVE_INFINITY)).toBe(1);
    expect(goPow(0.5, Number.POSITIVE_INFINITY)).toBe(0);
    expect(goPow(0.5, Number.NEGATIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(goPow(-0, -3)).toBe(Number.NEGATIVE_INFINITY);
    expect(goPow(-0, -2)).toBe(Number.POSITIVE_INFINITY);
    expect(Object.is(goPow(-0, 3), -0)).toBe(true);
    expect(goPow(Number.NEGATIVE_INFINITY, 3)).toBe(Number.NEGATIVE_INFINITY);
    expect(goPow(Number.NEGATIVE_INFINITY, -2)).toBe(0);
    expect(goPow(-2, 3)).toBe(-8);
  });

  it("atan2 is Go's math.Atan2", () => {
    expect(scalarOf(apply("atan2", scalar(0), scalar(-1)))).toBe(Math.PI); // 2.42
    expect(scalarOf(apply("atan2", scalar(1), scalar(Number.NEGATIVE_INFINITY)))).toBe(Math.PI);
    expect(goAtan2(Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY)).toBe(-2.356194490192345);
    expect(goAtan2(0.5, 0.3)).toBe(1.0303768265243125); // 2.42
    expect(goAtan2(Number.NaN, 1)).toBeNaN();
    expect(Object.is(goAtan2(-0, 1), -0)).toBe(true);
  });
});

describe("vector and scalar", () => {
  const m = vec(
    [{ __name__: "m", a: "1" }, 1],
    [{ __name__: "m", a: "2" }, 5],
    [{ __name__: "m", a: "3" }, Number.NaN],
  );

  it("arithmetic drops the metric name, in both orders", () => {
    expect(samples(apply("*", m, scalar(2)))).toEqual([
      [{ a: "1" }, 2],
      [{ a: "2" }, 10],
      [{ a: "3" }, Number.NaN],
    ]);
    expect(samples(apply("-", scalar(10), m)).map(([, v]) => v)).toEqual([9, 5, Number.NaN]);
    expect(samples(apply("/", scalar(10), m)).map(([, v]) => v)).toEqual([10, 2, Number.NaN]);
    expect(samples(apply("^", m, scalar(2))).map(([, v]) => v)).toEqual([1, 25, Number.NaN]);
  });

  it("a comparison filters, keeping the vector's value and name whichever side it is on", () => {
    expect(samples(apply(">", m, scalar(2)))).toEqual([[{ __name__: "m", a: "2" }, 5]]);
    // `2 < m` keeps m's samples with m's values, not the scalar.
    expect(samples(apply("<", scalar(2), m))).toEqual([[{ __name__: "m", a: "2" }, 5]]);
    expect(samples(apply(">=", scalar(2), m))).toEqual([[{ __name__: "m", a: "1" }, 1]]);
    // NaN samples fail every comparison but !=.
    expect(samples(apply("!=", m, scalar(1)))).toEqual([
      [{ __name__: "m", a: "2" }, 5],
      [{ __name__: "m", a: "3" }, Number.NaN],
    ]);
  });

  it("bool gives 1 or 0 for every sample and drops the metric name", () => {
    expect(samples(apply(">", m, scalar(2), { bool: true }))).toEqual([
      [{ a: "1" }, 0],
      [{ a: "2" }, 1],
      [{ a: "3" }, 0],
    ]);
    expect(samples(apply("==", scalar(5), m, { bool: true })).map(([, v]) => v)).toEqual([0, 1, 0]);
  });

  it("atan2 keeps the metric name, as 2.42", () => {
    expect(samples(apply("atan2", m, scalar(1)))[0]).toEqual([
      { __name__: "m", a: "1" },
      Math.PI / 4,
    ]);
  });

  it("an empty vector gives an empty vector", () => {
    expect(samples(apply("+", vec(), scalar(1)))).toEqual([]);
  });
});

describe("vector and vector, one-to-one", () => {
  const lhs = vec(
    [{ __name__: "a", job: "x", i: "1" }, 10],
    [{ __name__: "a", job: "y", i: "1" }, 20],
    [{ __name__: "a", job: "z", i: "1" }, 30],
  );
  const rhs = vec(
    [{ __name__: "b", job: "x", i: "1" }, 2],
    [{ __name__: "b", job: "y", i: "1" }, 40],
    [{ __name__: "b", job: "w", i: "1" }, 1],
  );

  it("matches on all labels but the metric name, which arithmetic drops", () => {
    expect(samples(apply("+", lhs, rhs))).toEqual([
      [{ job: "x", i: "1" }, 12],
      [{ job: "y", i: "1" }, 60],
    ]);
  });

  it("a comparison filter keeps the left sample's labels (name too) and value", () => {
    expect(samples(apply(">", lhs, rhs))).toEqual([[{ __name__: "a", job: "x", i: "1" }, 10]]);
    expect(samples(apply("<", lhs, rhs, { bool: true }))).toEqual([
      [{ job: "x", i: "1" }, 0],
      [{ job: "y", i: "1" }, 1],
    ]);
  });

  it("on keeps only the on labels in the result; ignoring drops the ignored ones", () => {
    const left = vec([{ __name__: "a", job: "x", i: "1", extra: "e" }, 10]);
    const right = vec([{ __name__: "b", job: "x", i: "2" }, 2]);
    expect(samples(apply("*", left, right, { matching: on(["job"]) }))).toEqual([
      [{ job: "x" }, 20],
    ]);
    expect(samples(apply("==", left, left, { matching: on(["job"]) }))).toEqual([
      [{ job: "x" }, 10],
    ]);
    expect(samples(apply("*", left, right, { matching: on(["job", "__name__"]) }))).toEqual([]);
    expect(samples(apply("-", left, right, { matching: ignoring(["i", "extra"]) }))).toEqual([
      [{ job: "x" }, 8],
    ]);
    // A comparison with ignoring keeps the metric name but drops the ignored labels.
    expect(samples(apply("!=", left, right, { matching: ignoring(["i", "extra"]) }))).toEqual([
      [{ __name__: "a", job: "x" }, 10],
    ]);
  });

  it("on () matches everything with everything", () => {
    const one = vec([{ a: "1" }, 3]);
    expect(samples(apply("+", one, vec([{ b: "2" }, 4]), { matching: on([]) }))).toEqual([[{}, 7]]);
  });

  it("NaN on either side: arithmetic gives NaN, comparisons fail", () => {
    const nan = vec([{ job: "x", i: "1" }, Number.NaN]);
    expect(samples(apply("+", lhs, nan))).toEqual([[{ job: "x", i: "1" }, Number.NaN]]);
    expect(samples(apply("==", nan, nan))).toEqual([]);
    expect(samples(apply("!=", nan, nan))).toEqual([[{ job: "x", i: "1" }, Number.NaN]]);
  });

  it("an empty side gives an empty result", () => {
    expect(samples(apply("+", lhs, vec()))).toEqual([]);
    expect(samples(apply("+", vec(), rhs))).toEqual([]);
  });

  it("refuses duplicates on the right, naming the group and both series", () => {
    const right = vec([{ __name__: "n", a: "1", c: "z" }, 20], [{ __name__: "n", a: "1" }, 10]);
    const left = vec([{ __name__: "m", a: "1", b: "x" }, 1]);
    const error = executionErrorOf(() => apply("+", left, right, { matching: on(["a"]) }));
    // 2.42's message for the same input (the later duplicate is named first).
    expect(error.message).toBe(
      'found duplicate series for the match group {a="1"} on the right hand-side of the operation: ' +
        '[{__name__="n", a="1"}, {__name__="n", a="1", c="z"}]' +
        ";many-to-many matching not allowed: matching labels must be unique on one side",
    );
  });

  it("refuses two left samples matching one right sample without group_left", () => {
    const left = vec([{ a: "1", b: "x" }, 1], [{ a: "1", b: "y" }, 2]);
    const right = vec([{ a: "1" }, 10]);
    const error = executionErrorOf(() => apply("+", left, right, { matching: on(["a"]) }));
    expect(error.message).toBe(
      "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    );
    // A comparison that drops one of them leaves a single match: no error.
    expect(samples(apply(">", left, right, { matching: on(["a"]) }))).toEqual([]);
    expect(samples(apply("<", left, vec([{ a: "1" }, 1.5]), { matching: on(["a"]) }))).toEqual([
      [{ a: "1" }, 1],
    ]);
  });
});

describe("vector and vector, many-to-one and one-to-many", () => {
  const requests = vec(
    [{ __name__: "req", instance: "a", code: "200" }, 10],
    [{ __name__: "req", instance: "a", code: "500" }, 2],
    [{ __name__: "req", instance: "b", code: "200" }, 6],
  );
  const info = vec(
    [{ __name__: "info", instance: "a", version: "1.0", zone: "eu" }, 2],
    [{ __name__: "info", instance: "b", version: "2.0" }, 3],
  );

  it("group_left keeps the many side's labels and copies the listed ones from the one side", () => {
    const matching = on(["instance"], { card: "many-to-one", include: ["version", "zone"] });
    expect(samples(apply("*", requests, info, { matching }))).toEqual([
      [{ instance: "a", code: "200", version: "1.0", zone: "eu" }, 20],
      [{ instance: "a", code: "500", version: "1.0", zone: "eu" }, 4],
      [{ instance: "b", code: "200", version: "2.0" }, 18],
    ]);
  });

  it("an include label the one side lacks is removed from the result", () => {
    const many = vec([{ instance: "b", zone: "us", code: "200" }, 1]);
    const matching = on(["instance"], { card: "many-to-one", include: ["zone"] });
    expect(samples(apply("+", many, info, { matching }))).toEqual([
      [{ instance: "b", code: "200" }, 4],
    ]);
  });

  it("group_right mirrors it, the value still computed left op right", () => {
    const matching = on(["instance"], { card: "one-to-many", include: ["version"] });
    expect(samples(apply("-", info, requests, { matching }))).toEqual([
      [{ instance: "a", code: "200", version: "1.0" }, -8],
      [{ instance: "a", code: "500", version: "1.0" }, 0],
      [{ instance: "b", code: "200", version: "2.0" }, -3],
    ]);
  });

  it("a group_right comparison filter keeps the many side's labels with the left (one) value", () => {
    const matching = on(["instance"], { card: "one-to-many", include: [] });
    expect(samples(apply("<", info, requests, { matching }))).toEqual([
      [{ __name__: "req", instance: "a", code: "200" }, 2],
      [{ __name__: "req", instance: "b", code: "200" }, 3],
    ]);
  });

  it("group_left with ignoring, which never matches on the metric name", () => {
    const matching = ignoring(["code"], { card: "many-to-one", include: [] });
    const totals = vec(
      [{ __name__: "total", instance: "a" }, 20],
      [{ __name__: "total", instance: "b" }, 12],
    );
    expect(samples(apply("/", requests, totals, { matching }))).toEqual([
      [{ instance: "a", code: "200" }, 0.5],
      [{ instance: "a", code: "500" }, 0.1],
      [{ instance: "b", code: "200" }, 0.5],
    ]);
  });

  it("refuses duplicates on the one side, naming the left side for group_right", () => {
    const twoInfos = vec([{ instance: "a", v: "1" }, 1], [{ instance: "a", v: "2" }, 2]);
    const matching = on(["instance"], { card: "one-to-many", include: [] });
    const error = executionErrorOf(() => apply("+", twoInfos, requests, { matching }));
    expect(error.message).toContain('found duplicate series for the match group {instance="a"}');
    expect(error.message).toContain("on the left hand-side of the operation");
  });

  it("refuses results that collide within a match group", () => {
    const many = vec([{ instance: "a", code: "1" }, 1], [{ instance: "a", code: "2" }, 2]);
    const matching = on(["instance"], { card: "many-to-one", include: [] });
    // Results told apart by a label of the many side are fine.
    expect(samples(apply("+", many, info, { matching }))).toHaveLength(2);
    // Arithmetic drops the names that told these apart.
    const collapsing = vec(
      [{ __name__: "x", instance: "a" }, 1],
      [{ __name__: "y", instance: "a" }, 2],
    );
    const error = executionErrorOf(() => apply("+", collapsing, info, { matching }));
    expect(error.message).toBe(
      "multiple matches for labels: grouping labels must ensure unique matches",
    );
  });
});

describe("set operators", () => {
  const lhs = vec(
    [{ __name__: "a", job: "x" }, 1],
    [{ __name__: "a", job: "y" }, 2],
    [{ __name__: "a", job: "z", extra: "e" }, 3],
  );
  const rhs = vec([{ __name__: "b", job: "y" }, 20], [{ __name__: "b", job: "w" }, 40]);
  const many = { card: "many-to-many" } as const;

  it("and keeps left samples (labels and values whole) that have a match", () => {
    expect(samples(apply("and", lhs, rhs))).toEqual([[{ __name__: "a", job: "y" }, 2]]);
    expect(samples(apply("and", lhs, rhs, { matching: on(["job"], many) }))).toEqual([
      [{ __name__: "a", job: "y" }, 2],
    ]);
    expect(samples(apply("and", lhs, vec()))).toEqual([]);
  });

  it("or adds right samples whose match is not on the left", () => {
    expect(samples(apply("or", lhs, rhs))).toEqual([
      [{ __name__: "a", job: "x" }, 1],
      [{ __name__: "a", job: "y" }, 2],
      [{ __name__: "a", job: "z", extra: "e" }, 3],
      [{ __name__: "b", job: "w" }, 40],
    ]);
    expect(samples(apply("or", vec(), rhs))).toHaveLength(2);
    expect(samples(apply("or", lhs, vec()))).toHaveLength(3);
  });

  it("unless keeps left samples without a match", () => {
    expect(samples(apply("unless", lhs, rhs))).toEqual([
      [{ __name__: "a", job: "x" }, 1],
      [{ __name__: "a", job: "z", extra: "e" }, 3],
    ]);
    expect(samples(apply("unless", lhs, vec()))).toHaveLength(3);
    expect(samples(apply("unless", vec(), rhs))).toEqual([]);
  });

  it("match with on and ignoring", () => {
    const right = vec([{ job: "z" }, 0]);
    expect(samples(apply("and", lhs, right, { matching: ignoring(["extra"], many) }))).toEqual([
      [{ __name__: "a", job: "z", extra: "e" }, 3],
    ]);
    expect(samples(apply("unless", lhs, right, { matching: on(["job"], many) }))).toHaveLength(2);
    expect(samples(apply("and", lhs, right, { matching: on([], many) }))).toHaveLength(3);
  });

  it("allow duplicates on either side", () => {
    const dupes = vec([{ job: "y", i: "1" }, 1], [{ job: "y", i: "2" }, 2]);
    expect(samples(apply("and", dupes, lhs, { matching: on(["job"], many) }))).toHaveLength(2);
  });
});
