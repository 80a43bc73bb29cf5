/**
 * label_replace and label_join. Expected label sets marked "2.42" are what Prometheus 2.42
 * answers for the same input.
 */
import { describe, expect, it } from "vitest";
import type { FunctionCall } from "../src/ast.ts";
import { PromQLError } from "../src/errors.ts";
import { callFunction } from "../src/functions.ts";
import { expandTemplate } from "../src/functions-labels.ts";
import type { Labels, Value, Vector } from "../src/values.ts";

const TS = 100_000;
const call: FunctionCall = { type: "call", name: "f", args: [] };
const ctr = { __name__: "ctr", s: "a" };

function vec(...list: Labels[]): Value {
  return { type: "vector", value: list.map((labels) => ({ labels, t: TS, v: 20 })) };
}

function str(v: string): Value {
  return { type: "string", t: TS, v };
}

function run(name: string, args: Value[]): Vector {
  const result = callFunction(name, args, { ts: TS, rangeStart: TS, rangeEnd: TS, call });
  if (result.type !== "vector") throw new Error(`expected a vector, got ${result.type}`);
  return result.value;
}

function replace(input: Labels, dst: string, replacement: string, src: string, regex: string) {
  const [out] = run("label_replace", [
    vec(input),
    str(dst),
    str(replacement),
    str(src),
    str(regex),
  ]);
  return out?.labels;
}

function errorOf(fn: () => unknown): PromQLError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof PromQLError) return error;
    throw error;
  }
  return undefined;
}

describe("label_replace", () => {
  it("expands references as Go's Regexp.Expand (2.42)", () => {
    expect(replace(ctr, "dst", "v-$1", "s", "(.*)")).toEqual({ ...ctr, dst: "v-a" });
    expect(replace(ctr, "dst", "$" + "{1}x $1x $$ $ $x $" + "{2", "s", "(?P<x>a)")).toEqual({
      ...ctr,
      dst: "ax  $ $ a $" + "{2",
    });
    expect(replace(ctr, "dst", "$name-$0", "s", "(?P<name>.)")).toEqual({ ...ctr, dst: "a-a" });
    expect(replace(ctr, "dst", "[$01][$1a][$10]", "s", "(a)")).toEqual({ ...ctr, dst: "[][][]" });
  });

  it("matches the whole value, case-sensitively, and leaves non-matching series alone (2.42)", () => {
    expect(replace(ctr, "dst", "x", "s", "b")).toEqual(ctr);
    expect(replace(ctr, "dst", "x", "s", "A")).toEqual(ctr);
    expect(replace({ s: "abc" }, "dst", "x", "s", "b")).toEqual({ s: "abc" });
    expect(replace(ctr, "dst", "x", "missing", "")).toEqual({ ...ctr, dst: "x" });
  });

  it("follows Go's RE2 syntax: `.` stops at a newline unless (?s) (2.42)", () => {
    const multiline = { src: "a\nb" };
    expect(replace(multiline, "dst", "x", "src", "a.b")).toEqual(multiline);
    expect(replace(multiline, "dst", "x", "src", "(?s)a.b")).toEqual({ ...multiline, dst: "x" });
    expect(replace({ src: "Straße" }, "dst", "$1", "src", "Stra(.)e")).toEqual({
      src: "Straße",
      dst: "ß",
    });
    expect(replace({ src: "abcd" }, "dst", "$1/$2/$3", "src", "(a|ab)(c|bcd)?(.*)")).toEqual({
      src: "abcd",
      dst: "a/bcd/",
    });
  });

  it("removes the destination when the expansion is empty, and may set the name (2.42)", () => {
    expect(replace(ctr, "s", "", "s", "a")).toEqual({ __name__: "ctr" });
    expect(replace(ctr, "__name__", "new", "s", ".*")).toEqual({ __name__: "new", s: "a" });
  });

  it("keeps values and answers at the step's time", () => {
    const out = run("label_replace", [
      vec(ctr, { s: "b" }),
      str("d"),
      str("$1"),
      str("s"),
      str("(.)"),
    ]);
    expect(out).toEqual([
      { labels: { ...ctr, d: "a" }, t: TS, v: 20 },
      { labels: { s: "b", d: "b" }, t: TS, v: 20 },
    ]);
  });

  it("fails as an execution error on a bad regex or destination, even without input (2.42)", () => {
    const badRegex = errorOf(() =>
      run("label_replace", [vec(), str("dst"), str("x"), str("s"), str("a|b)")]),
    );
    expect(badRegex?.kind).toBe("execution");
    expect(badRegex?.message).toBe("invalid regular expression in label_replace(): a|b)");
    const badName = errorOf(() =>
      run("label_replace", [vec(), str("1a"), str("b"), str("c"), str("x")]),
    );
    expect(badName?.kind).toBe("execution");
    expect(badName?.message).toBe("invalid destination label name in label_replace(): 1a");
  });
});

describe("expandTemplate", () => {
  it("treats a reference to a group that did not match as empty", () => {
    expect(expandTemplate("<$1|$2>", ["a", "a", null], {})).toBe("<a|>");
    expect(expandTemplate("$", ["a"], {})).toBe("$");
    expect(expandTemplate("$" + "{n}", ["a", "a"], { n: 1 })).toBe("a");
  });
});

describe("label_join", () => {
  function join(input: Labels, dst: string, sep: string, ...sources: string[]) {
    const [out] = run("label_join", [vec(input), str(dst), str(sep), ...sources.map(str)]);
    return out?.labels;
  }

  it("joins source values, missing ones as empty (2.42)", () => {
    expect(join(ctr, "dst", "-", "s", "missing", "__name__")).toEqual({ ...ctr, dst: "a--ctr" });
    expect(join(ctr, "s", "", "missing")).toEqual({ __name__: "ctr" });
    expect(join(ctr, "dst", ",")).toEqual(ctr);
  });

  it("checks label names as 2.42 does", () => {
    const badSource = errorOf(() => join(ctr, "dst", "-", "1bad"));
    expect(badSource?.kind).toBe("execution");
    expect(badSource?.message).toBe("invalid source label name in label_join(): 1bad");
    const badDestination = errorOf(() => join(ctr, "1a", "-", "s"));
    expect(badDestination?.message).toBe("invalid destination label name in label_join(): 1a");
  });
});
