import { describe, expect, it } from "vitest";
import type { BinaryExpr, Expr, MatrixSelector, SubqueryExpr, VectorSelector } from "../src/ast.ts";
import { PromQLError } from "../src/errors.ts";
import { parse, parseDuration } from "../src/parse.ts";
import { typeOf } from "../src/typecheck.ts";
import { VALID_QUERIES } from "./promql-queries.ts";

function parseError(query: string): PromQLError {
  try {
    parse(query);
  } catch (error) {
    if (error instanceof PromQLError) return error;
    throw error;
  }
  throw new Error(`${query} parsed without error`);
}

const selector = (name: string, extra: Partial<VectorSelector> = {}): VectorSelector => ({
  type: "vectorSelector",
  name,
  matchers: [{ name: "__name__", op: "=", value: name }],
  offsetMs: 0,
  ...extra,
});

const num = (value: number): Expr => ({ type: "number", value });

describe("parse: literals", () => {
  it.each([
    ["1", 1],
    ["1.5e3", 1500],
    [".5", 0.5],
    ["0x1F", 31],
    ["0X1f", 31],
    ["5.", 5],
    ["010", 8],
    ["09", 9],
    ["-1", -1],
    ["+2", 2],
    ["- - 3", 3],
    ["Inf", Number.POSITIVE_INFINITY],
    ["-inf", Number.NEGATIVE_INFINITY],
  ])("reads the number %s", (query, value) => {
    expect(parse(query)).toEqual(num(value));
  });

  it("reads NaN", () => {
    const expr = parse("NaN");
    expect(expr.type === "number" && Number.isNaN(expr.value)).toBe(true);
  });

  it.each([
    ['"a\\nb\\tc"', "a\nb\tc"],
    ['"\\\\ \\""', '\\ "'],
    ["'it\\'s'", "it's"],
    ['"\\x41\\101\\u00e9\\U0001F600"', "AAé😀"],
    ['"\\xc3\\xa9"', "é"],
    ["`raw \\n`", "raw \\n"],
    ['"\\a\\b\\f\\r\\v"', "\x07\b\f\r\v"],
  ])("unquotes %s", (query, value) => {
    expect(parse(query)).toEqual({ type: "string", value });
  });
});

describe("parse: selectors", () => {
  it("puts the metric name first as a __name__ matcher", () => {
    expect(parse('foo{job="a", path=~"/x.*"}')).toEqual({
      type: "vectorSelector",
      name: "foo",
      matchers: [
        { name: "__name__", op: "=", value: "foo" },
        { name: "job", op: "=", value: "a" },
        { name: "path", op: "=~", value: "/x.*" },
      ],
      offsetMs: 0,
    });
  });

  it("reads selectors without a name and with quoted label names", () => {
    expect(parse('{job!="", "my.label"!~"x"}')).toEqual({
      type: "vectorSelector",
      matchers: [
        { name: "job", op: "!=", value: "" },
        { name: "my.label", op: "!~", value: "x" },
      ],
      offsetMs: 0,
    });
    expect(parse('{"foo"}')).toEqual({
      type: "vectorSelector",
      matchers: [{ name: "__name__", op: "=", value: "foo" }],
      offsetMs: 0,
    });
  });

  it.each([
    ["foo[5m]", 300_000],
    ["foo[1h30m]", 5_400_000],
    ["foo[90s]", 90_000],
    ["foo[1y]", 365 * 86_400_000],
    ["foo[1w]", 7 * 86_400_000],
    ["foo[250ms]", 250],
  ])("reads the range of %s", (query, rangeMs) => {
    expect(parse(query)).toEqual({ type: "matrixSelector", selector: selector("foo"), rangeMs });
  });

  it("puts offset and @ of a range selector on its selector, in either order", () => {
    const expected: MatrixSelector = {
      type: "matrixSelector",
      selector: selector("foo", { offsetMs: -60_000, at: { kind: "time", ms: 1_609_746_000_500 } }),
      rangeMs: 300_000,
    };
    expect(parse("foo[5m] offset -1m @ 1609746000.5")).toEqual(expected);
    expect(parse("foo[5m] @ 1609746000.5 offset -1m")).toEqual(expected);
  });

  it("reads @ start() and @ end()", () => {
    expect(parse("foo @ start()")).toEqual(selector("foo", { at: { kind: "start" } }));
    expect(parse("foo @ END()")).toEqual(selector("foo", { at: { kind: "end" } }));
  });

  it("reads subqueries with and without a step, with modifiers", () => {
    const expected: SubqueryExpr = {
      type: "subquery",
      expr: {
        type: "call",
        name: "rate",
        args: [{ type: "matrixSelector", selector: selector("foo"), rangeMs: 300_000 }],
      },
      rangeMs: 3_600_000,
      stepMs: 60_000,
      offsetMs: 600_000,
      at: { kind: "end" },
    };
    expect(parse("rate(foo[5m])[1h:1m] offset 10m @ end()")).toEqual(expected);
    expect(parse("foo[1h:]")).toEqual({
      type: "subquery",
      expr: selector("foo"),
      rangeMs: 3_600_000,
      stepMs: 0,
      offsetMs: 0,
    });
  });

  it("keeps the offset of a selector under a subquery on the selector", () => {
    const expr = parse("foo offset 5m [10m:]");
    expect(expr).toMatchObject({ type: "subquery", offsetMs: 0, expr: { offsetMs: 300_000 } });
  });
});

describe("parse: operators", () => {
  it("gives vector operands one-to-one matching and scalar operands none", () => {
    expect(parse("foo + bar")).toEqual({
      type: "binary",
      op: "+",
      lhs: selector("foo"),
      rhs: selector("bar"),
      returnBool: false,
      matching: { card: "one-to-one", on: false, labels: [], include: [] },
    });
    const scalar = parse("foo * 2") as BinaryExpr;
    expect(scalar.matching).toBeUndefined();
    expect(parse("1 < bool 2")).toEqual({
      type: "binary",
      op: "<",
      lhs: num(1),
      rhs: num(2),
      returnBool: true,
    });
  });

  it("makes set operators many-to-many", () => {
    expect((parse("foo and on(job) bar") as BinaryExpr).matching).toEqual({
      card: "many-to-many",
      on: true,
      labels: ["job"],
      include: [],
    });
    expect((parse("foo or bar") as BinaryExpr).matching?.card).toBe("many-to-many");
  });

  it("reads group_left and group_right with their labels", () => {
    expect((parse("foo * on(a, b) group_left(c) bar") as BinaryExpr).matching).toEqual({
      card: "many-to-one",
      on: true,
      labels: ["a", "b"],
      include: ["c"],
    });
    expect((parse("foo / ignoring(x) group_right bar") as BinaryExpr).matching).toEqual({
      card: "one-to-many",
      on: false,
      labels: ["x"],
      include: [],
    });
  });

  it("follows PromQL precedence and associativity", () => {
    expect(parse("1 + 2 * 3")).toMatchObject({ op: "+", rhs: { op: "*" } });
    expect(parse("2 ^ 3 ^ 2")).toMatchObject({ op: "^", lhs: num(2), rhs: { op: "^" } });
    expect(parse("a - b - c")).toMatchObject({ op: "-", lhs: { op: "-" }, rhs: selector("c") });
    expect(parse("a or b and c")).toMatchObject({ op: "or", rhs: { op: "and" } });
    expect(parse("a > b + c")).toMatchObject({ op: ">", rhs: { op: "+" } });
    expect(parse("a unless b or c")).toMatchObject({ op: "or", lhs: { op: "unless" } });
  });

  it("applies a leading sign to the whole power, as Prometheus does", () => {
    expect(parse("-2 ^ 2")).toEqual({
      type: "unary",
      op: "-",
      expr: {
        type: "binary",
        op: "^",
        lhs: num(2),
        rhs: num(2),
        returnBool: false,
      },
    });
    expect(parse("(-2) ^ 2")).toMatchObject({ type: "binary", lhs: { type: "paren" } });
  });

  it("binds offset, @ and ranges tighter than operators", () => {
    expect(parse("1 + foo offset 5m")).toMatchObject({
      type: "binary",
      lhs: num(1),
      rhs: { type: "vectorSelector", offsetMs: 300_000 },
    });
    expect(parse("-foo @ 10")).toMatchObject({
      type: "unary",
      expr: { type: "vectorSelector", at: { kind: "time", ms: 10_000 } },
    });
    expect(parse("a * b + c offset 1m")).toMatchObject({
      op: "+",
      lhs: { op: "*", rhs: { offsetMs: 0 } },
      rhs: { name: "c", offsetMs: 60_000 },
    });
  });

  it("reads unary operators and parentheses", () => {
    expect(parse("-foo")).toEqual({ type: "unary", op: "-", expr: selector("foo") });
    expect(parse("+(foo)")).toEqual({
      type: "unary",
      op: "+",
      expr: { type: "paren", expr: selector("foo") },
    });
  });

  it("reads a number with a trailing dot inside expressions, but not in strings", () => {
    expect(parse("quantile(0., foo)")).toMatchObject({ param: num(0) });
    expect(parse('"5."')).toEqual({ type: "string", value: "5." });
  });

  it("reads comments as whitespace", () => {
    expect(parse("foo # comment\n")).toEqual(selector("foo"));
  });
});

describe("parse: functions and aggregations", () => {
  it("reads aggregations with the grouping before or after", () => {
    const expected = {
      type: "aggregate",
      op: "sum",
      expr: selector("foo"),
      grouping: ["job", "instance"],
      without: false,
    };
    expect(parse("sum by (job, instance) (foo)")).toEqual(expected);
    expect(parse("sum(foo) by (job, instance)")).toEqual(expected);
    expect(parse("SUM(foo) BY (job, instance,)")).toEqual(expected);
  });

  it("reads without and aggregation parameters", () => {
    expect(parse("topk without (a) (3, foo)")).toEqual({
      type: "aggregate",
      op: "topk",
      param: num(3),
      expr: selector("foo"),
      grouping: ["a"],
      without: true,
    });
    expect(parse('count_values("v", foo)')).toMatchObject({
      op: "count_values",
      param: { type: "string", value: "v" },
    });
  });

  it("reads function calls, with optional and repeated arguments", () => {
    expect(parse("round(foo)")).toEqual({ type: "call", name: "round", args: [selector("foo")] });
    expect(parse("time()")).toEqual({ type: "call", name: "time", args: [] });
    expect(parse('label_join(foo, "d", ",", "a", "b", "c")')).toMatchObject({
      name: "label_join",
      args: { length: 6 },
    });
  });
});

describe("parse: every valid query", () => {
  it.each(VALID_QUERIES.map((query) => [query]))("parses %j", (query) => {
    expect(() => parse(query)).not.toThrow();
  });
});

describe("parse: errors", () => {
  it.each([
    ["", "no expression found in input"],
    ["foo bar", '1:5: parse error: unexpected identifier "bar"'],
    ["1 +", "1:4: parse error: unexpected end of input"],
    ["(1", "unclosed left parenthesis"],
    ["foo[5m", "unclosed left bracket"],
    ['foo{a="b"', "unexpected end of input inside braces"],
    [")", "unexpected right parenthesis"],
    ['"abc', "unterminated quoted string"],
    ["foo(bar)", '1:1: parse error: unknown function with name "foo"'],
    ["holt_winters(foo[5m], 0.5, 0.5)", 'function "holt_winters" is not supported'],
    ["histogram_count(foo)", 'function "histogram_count" is not supported'],
    ["mad_over_time(foo[5m])", 'function "mad_over_time" is not supported'],
    ['sort_by_label(foo, "a")', 'function "sort_by_label" is not supported'],
    ["info(foo)", 'function "info" is not supported'],
    ["double_exponential_smoothing(foo[5m], 0.5, 0.5)", "double_exponential_smoothing"],
    ["limitk(1, foo)", 'aggregation "limitk" is not supported'],
    ["limit_ratio(0.5, foo)", 'aggregation "limit_ratio" is not supported'],
    ["rate(foo[5m],)", "trailing commas not allowed in function call args"],
    ["5m", 'unexpected duration "5m"'],
    ["1_000", "bad number or duration syntax"],
    ["1e400", "value out of range"],
    ['"\\q"', "unknown escape sequence U+0071 'q'"],
    ['"\\\'"', "unknown escape sequence U+0027"],
    ['"\\uD800"', "escape sequence is an invalid Unicode code point"],
    ['"\\400"', "escape sequence is an invalid Unicode code point"],
    ["{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"],
    ['{job=""}', "vector selector must contain at least one non-empty matcher"],
    ['{job=~".*"}', "vector selector must contain at least one non-empty matcher"],
    ['{job!~"x"}', "vector selector must contain at least one non-empty matcher"],
    ['foo{__name__="bar"}', 'metric name must not be set twice: "foo" or "bar"'],
    ['foo{a=~"("}', "1:5: parse error: error parsing regexp: missing closing )"],
    ["foo[0s]", "1:5: parse error: duration must be greater than 0"],
    ["foo[5m:0s]", "1:8: parse error: duration must be greater than 0"],
    ["foo offset 0s", "duration must be greater than 0"],
    ["foo[-5m]", "must be positive"],
    ["foo[300]", "missing unit character in duration"],
    ["foo[5m+1m]", "duration expressions are not supported"],
    ["foo[step()]", "duration expressions are not supported"],
    ["foo offset (5m)", "duration expressions are not supported"],
    ["foo offset +5m", 'unexpected "+" in offset'],
    ["(foo)[5m]", "1:6: parse error: ranges only allowed for vector selectors"],
    ["rate(foo[5m])[5m]", "ranges only allowed for vector selectors"],
    ["foo offset 5m [10m]", "1:15: parse error: no offset modifiers allowed before range"],
    ["foo @ 100 [5m]", "no @ modifiers allowed before range"],
    ["foo offset 1m offset 2m", "offset may not be set multiple times"],
    ["foo @ start() @ 3", "@ <timestamp> may not be set multiple times"],
    ["rate(foo[5m]) offset 1m", "offset modifier must be preceded by an instant vector selector"],
    ["sum(foo) @ 100", "@ modifier must be preceded by an instant vector selector"],
    ["(foo) offset 1m", "offset modifier must be preceded"],
    ["foo @ Inf", "timestamp out of bounds for @ modifier: +Inf"],
    ["foo @ 1e20", "timestamp out of bounds for @ modifier"],
    ["foo @ 5m", 'unexpected duration "5m"'],
    ["foo[5m] anchored", "not supported"],
    ["1[5m:1m]", "subquery is only allowed on instant vector, got scalar instead"],
    ["foo[5m][10m:]", "subquery is only allowed on instant vector, got matrix instead"],
    ["1 < 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"],
    ["foo + bool bar", "bool modifier can only be used on comparison operators"],
    ["foo and 1", 'set operator "and" not allowed in binary scalar expression'],
    ["1 + on(a) foo", "vector matching only allowed between instant vectors"],
    ["foo and on(a) group_left bar", 'no grouping allowed for "and" operation'],
    ["foo * on(a) group_left(a) bar", 'label "a" must not occur in ON and GROUP clause at once'],
    ["foo + fill(0) bar", "fill modifiers are not supported"],
    ["foo </ bar", 'operator "</" is not supported'],
    ["foo * on(a) group_left (bar)", "unexpected end of input"],
    ["foo + bar[5m]", "1:7: parse error: binary expression must contain only scalar and instant"],
    ['"a" + 1', "binary expression must contain only scalar and instant vector types"],
    [
      '-"a"',
      'unary expression only allowed on expressions of type scalar or instant vector, got "string"',
    ],
    ["-foo[5m]", 'got "range vector"'],
    ["-foo[5m:]", 'got "range vector"'],
    ["sum(foo) by (a) without (b)", "unexpected <without>"],
    ["sum()", "no arguments for aggregate expression provided"],
    ["topk(foo)", "wrong number of arguments for aggregate expression provided, expected 2, got 1"],
    ["sum(1, foo)", "expected 1, got 2"],
    ['sum("a")', "expected type instant vector in aggregation expression, got string"],
    ["sum(foo[5m])", "expected type instant vector in aggregation expression, got range vector"],
    ['quantile("a", foo)', "expected type scalar in aggregation parameter, got string"],
    [
      "count_values(1, foo)",
      "1:14: parse error: expected type string in aggregation parameter, got scalar",
    ],
    ["abs(foo, bar)", 'expected 1 argument(s) in call to "abs", got 2'],
    [
      "rate(foo)",
      '1:6: parse error: expected type range vector in call to function "rate", got instant vector',
    ],
    ["abs(foo[5m])", 'expected type instant vector in call to function "abs", got range vector'],
    ['label_join(foo, "a")', 'expected at least 3 argument(s) in call to "label_join", got 2'],
    [
      'label_join(foo, "a", ",", 1)',
      'expected type string in call to function "label_join", got scalar',
    ],
    ["round(foo, 1, 2)", 'expected at most 2 argument(s) in call to "round", got 3'],
    ["time(1)", 'expected 0 argument(s) in call to "time", got 1'],
    ["foo\n  + bar[5m]", "2:5: parse error: binary expression"],
  ])("refuses %j", (query, fragment) => {
    const error = parseError(query);
    expect(error.kind).toBe("bad_data");
    expect(error.message).toContain(fragment);
  });
});

describe("typeOf", () => {
  it.each([
    ["1", "scalar"],
    ['"a"', "string"],
    ["foo", "vector"],
    ["foo[5m]", "matrix"],
    ["foo[5m:]", "matrix"],
    ["rate(foo[5m])", "vector"],
    ["time()", "scalar"],
    ["scalar(foo)", "scalar"],
    ["sum(foo)", "vector"],
    ["1 + 2", "scalar"],
    ["1 + foo", "vector"],
    ["-(time())", "scalar"],
    ["-foo", "vector"],
  ])("types %s as %s", (query, type) => {
    expect(typeOf(parse(query))).toBe(type);
  });

  it("takes an external node's result type", () => {
    const original = parse("sum(foo)");
    expect(typeOf({ type: "external", key: "k", resultType: "scalar", original })).toBe("scalar");
  });
});

describe("parseDuration", () => {
  it.each([
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["15", 15_000],
    ["0.5", 500],
    ["1e1", 10_000],
    ["0", 0],
    ["250ms", 250],
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "abc", "5M", "1h1d", "0x10", " 5"])("refuses %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/cannot parse/);
  });
});

describe("parse: modifiers inside operators keep precedence", () => {
  it.each([
    ["100 - x offset 1m / 2", "100 - ((x offset 1m) / 2)"],
    ["a - b @ 100 * 2 ^ 3", "a - ((b @ 100) * (2 ^ 3))"],
    ["a or b offset 5m and c", "a or ((b offset 5m) and c)"],
    ["a * b offset 1m + c", "((a * (b offset 1m)) + c)"],
    ["2 ^ b offset 1m ^ 2", "2 ^ ((b offset 1m) ^ 2)"],
    ["-x offset 5m ^ 2", "-((x offset 5m) ^ 2)"],
  ])("%s reads as %s", (text, grouped) => {
    const strip = (expr: Expr): Expr => (expr.type === "paren" ? strip(expr.expr) : expr);
    const unparen = (expr: Expr): Expr => {
      const e = strip(expr);
      if (e.type === "unary") return { ...e, expr: unparen(e.expr) };
      return e.type === "binary" ? { ...e, lhs: unparen(e.lhs), rhs: unparen(e.rhs) } : e;
    };
    expect(unparen(parse(text))).toEqual(unparen(parse(grouped)));
  });
});
