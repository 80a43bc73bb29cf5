import { describe, expect, it } from "vitest";
import type { BinaryExpr, Expr, VectorSelector } from "../src/ast.ts";
import { parse } from "../src/parse.ts";
import { printDuration, printExpr, quote } from "../src/print.ts";
import { VALID_QUERIES } from "./promql-queries.ts";

const selector = (name: string): VectorSelector => ({
  type: "vectorSelector",
  name,
  matchers: [{ name: "__name__", op: "=", value: name }],
  offsetMs: 0,
});

const binary = (op: BinaryExpr["op"], lhs: Expr, rhs: Expr): BinaryExpr => ({
  type: "binary",
  op,
  lhs,
  rhs,
  returnBool: false,
});

describe("printExpr round trip", () => {
  it.each(VALID_QUERIES.map((query) => [query]))("%j prints to text parsing the same", (query) => {
    const parsed = parse(query);
    expect(parse(printExpr(parsed))).toEqual(parsed);
  });
});

describe("printExpr", () => {
  it.each([
    ["foo{job='a'}", 'foo{job="a"}'],
    ["foo[90s]", "foo[1m30s]"],
    ["foo[2160h]", "foo[90d]"],
    ["foo[1m30s2ms]", "foo[1m30s2ms]"],
    ["foo @ 100 offset -5m", "foo offset -5m @ 100"],
    ["foo[5m] @ end()", "foo[5m] @ end()"],
    ["rate(foo[5m])[1h:]", "rate(foo[5m])[1h:]"],
    ["sum(foo) by (job)", "sum by (job) (foo)"],
    ["sum without () (foo)", "sum without () (foo)"],
    ["topk(3, foo)", "topk(3, foo)"],
    ["foo * on(a) group_left bar", "foo * on(a) group_left() bar"],
    ["foo and bar", "foo and bar"],
    ["foo + ignoring() bar", "foo + bar"],
    ["foo > bool 1", "foo > bool 1"],
    ["-2 ^ 2", "-2 ^ 2"],
    ["- -foo", "- -foo"],
    ["1e21", "1e+21"],
    ["-0", "-0"],
    ["Inf", "Inf"],
    ['{__name__="on"}', '{__name__="on"}'],
    ['"a\\"b\\\\c\\n"', '"a\\"b\\\\c\\n"'],
  ])("prints %j as %j", (query, text) => {
    expect(printExpr(parse(query))).toBe(text);
  });

  it("adds the parentheses precedence needs in trees built by code", () => {
    const sum = binary("+", selector("a"), selector("b"));
    expect(printExpr(binary("*", sum, selector("c")))).toBe("(a + b) * c");
    expect(printExpr(binary("-", selector("c"), sum))).toBe("c - (a + b)");
    expect(printExpr(binary("+", selector("c"), sum))).toBe("c + (a + b)");
    const power = binary("^", selector("a"), selector("b"));
    expect(printExpr(binary("^", power, selector("c")))).toBe("(a ^ b) ^ c");
    expect(printExpr(binary("^", selector("c"), power))).toBe("c ^ a ^ b");
    expect(
      printExpr(binary("^", { type: "number", value: -2 }, { type: "number", value: 2 })),
    ).toBe("(-2) ^ 2");
    expect(printExpr({ type: "unary", op: "-", expr: sum })).toBe("-(a + b)");
    expect(
      printExpr({ type: "subquery", expr: sum, rangeMs: 600_000, stepMs: 0, offsetMs: 0 }),
    ).toBe("(a + b)[10m:]");
  });

  it("prints matching modifiers, also where parsing would have dropped them", () => {
    const matched: BinaryExpr = {
      ...binary("/", selector("a"), selector("b")),
      matching: { card: "one-to-many", on: true, labels: ["x"], include: ["y", "z"] },
    };
    expect(printExpr(matched)).toBe("a / on(x) group_right(y, z) b");
  });

  it("prints names Prometheus would read as keywords as __name__ matchers", () => {
    const named: VectorSelector = { ...selector("bool"), offsetMs: 60_000 };
    expect(printExpr(named)).toBe('{__name__="bool"} offset 1m');
    expect(printExpr(parse("sum + 1"))).toBe("sum + 1");
  });

  it("refuses what Prometheus 2 cannot read", () => {
    expect(() => printExpr(parse('{"my.label"="x"}'))).toThrow(/label name/);
    expect(() => printExpr(parse("sum by (inf) (foo)"))).toThrow(/label name/);
    expect(() =>
      printExpr({ type: "external", key: "k1", resultType: "vector", original: selector("a") }),
    ).toThrow(/cannot be printed/);
    expect(() =>
      printExpr({ type: "matrixSelector", selector: selector("a"), rangeMs: 0 }),
    ).toThrow(/duration/);
  });
});

describe("printDuration", () => {
  it.each([
    [1, "1ms"],
    [1000, "1s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [86_400_000, "1d"],
    [7 * 86_400_000, "1w"],
    [8 * 86_400_000, "8d"],
    [365 * 86_400_000, "1y"],
    [366 * 86_400_000, "366d"],
    [3_723_004, "1h2m3s4ms"],
  ])("writes %i ms as %s", (ms, text) => {
    expect(printDuration(ms)).toBe(text);
  });

  it.each([0, -1, 1.5])("refuses %d", (ms) => {
    expect(() => printDuration(ms)).toThrow();
  });
});

describe("quote", () => {
  it.each([
    ["plain", '"plain"'],
    ['a"b', '"a\\"b"'],
    ["tab\tnew\nline", '"tab\\tnew\\nline"'],
    ["\u0001", '"\\x01"'],
    ["é ✓", '"é ✓"'],
  ])("quotes %j", (value, text) => {
    expect(quote(value)).toBe(text);
    expect(parse(text)).toEqual({ type: "string", value });
  });
});
