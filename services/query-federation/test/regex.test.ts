/**
 * Tag regexes: RE2 semantics in the worker (whole value, `.` matching a newline, no
 * backtracking), a clear refusal of what RE2 does not accept, and which patterns each database
 * is sent. Pure.
 */
import { EntenteError } from "@entente/protocol";
import { RE2JS } from "re2js";
import { describe, expect, it } from "vitest";
import { pushedRegex } from "../src/instances/regex-pushdown.ts";
import { DEFAULT_QUERY_LIMITS, escapeRegex, normalizeQuery } from "../src/query.ts";
import { compileTagRegex, literalAlternatives } from "../src/tag-regex.ts";

function refusal(pattern: string): EntenteError {
  try {
    normalizeQuery({ metric: "m", tags: { host: { "=~": pattern } } }, DEFAULT_QUERY_LIMITS);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error(`expected ${pattern} to be refused`);
}

describe("tag regexes in the worker", () => {
  it("match the whole value, as Prometheus' matchers do", () => {
    const regex = compileTagRegex("host", "web-.*|db");
    expect(regex.test("web-1")).toBe(true);
    expect(regex.test("db")).toBe(true);
    expect(regex.test("xdb")).toBe(false);
    expect(regex.test("dbx")).toBe(false);
    expect(compileTagRegex("host", "a|ab").test("ab")).toBe(true);
  });

  it("let `.` and negated classes match a newline, and `$` only the end", () => {
    expect(compileTagRegex("host", "a.b").test("a\nb")).toBe(true);
    expect(compileTagRegex("host", "a[^x]b").test("a\nb")).toBe(true);
    expect(compileTagRegex("host", "a$").test("a\n")).toBe(false);
    expect(compileTagRegex("host", "..").test("é😀")).toBe(true);
  });

  it("answer the pattern that makes a backtracking engine take 2^n steps at once", () => {
    const regex = compileTagRegex("host", "(a+)+\\d");
    expect(regex.test(`${"a".repeat(28)}!`)).toBe(false);
    expect(regex.test(`${"a".repeat(100_000)}!`)).toBe(false);
    expect(regex.test(`${"a".repeat(28)}7`)).toBe(true);
  });

  it("refuse what RE2 does not accept with a BAD_REQUEST naming the pattern and why", () => {
    for (const [pattern, why] of [
      ["(a)\\1", /invalid escape sequence/],
      ["(?=a)b", /unsupported Perl syntax/],
      ["a*+", /invalid nested repetition/],
      ["(", /missing closing \)/],
      ["a)|(b", /unexpected \)/],
      ["x{1001}", /invalid repeat count/],
    ] as const) {
      const err = refusal(pattern);
      expect(err.code).toBe("BAD_REQUEST");
      expect(err.message).toContain(
        `tags.host: invalid regular expression ${JSON.stringify(pattern)}`,
      );
      expect(err.message).toMatch(why);
      expect(err.message).toContain("RE2 syntax");
    }
  });
});

describe("alternations of plain values", () => {
  it("match as RE2 matches them, without compiling them", () => {
    const values = ["a.b", "c", "", "x|y", "(z)", "é😀", "a\\b", "{1}", "a b"];
    const pattern = values.map(escapeRegex).join("|");
    expect(literalAlternatives(pattern)).toEqual(new Set(values));
    const re2 = RE2JS.compile(pattern, RE2JS.DOTALL);
    for (const candidate of [...values, "axb", "x", "y", "c|", "a.b|c", " ", "\n"]) {
      expect(compileTagRegex("host", pattern).test(candidate), candidate).toBe(
        re2.testExact(candidate),
      );
    }
  });

  it("leave every other pattern to RE2", () => {
    for (const pattern of ["a.b", "a\\d", "(a|b)", "a*", "[ab]", "a{2}", "^a", "a$", "a\\"]) {
      expect(literalAlternatives(pattern), pattern).toBeUndefined();
    }
  });

  it("take a list of 50,000 values; a long pattern that needs RE2 is refused", () => {
    const hosts = Array.from({ length: 50_000 }, (_, i) => `host-${i}.example.com`);
    const q = normalizeQuery({ metric: "m", tags: { host: hosts } }, DEFAULT_QUERY_LIMITS);
    expect(q.matchers[0]?.regex?.test("host-49999.example.com")).toBe(true);
    expect(q.matchers[0]?.regex?.test("host-50000.example.com")).toBe(false);
    const err = refusal(`(${"a|".repeat(3000)}b)`);
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toMatch(/6003 characters is longer than the 4096 a regex may have/);
  });
});

describe("regexes sent to databases", () => {
  it("sends DuckDB, whose regexes are RE2, every pattern", () => {
    expect(pushedRegex("duckdb", "h\\d{2}(?i:x)")).toBe("(?s:h\\d{2}(?i:x))");
  });

  it("sends PostgreSQL and MariaDB only syntax they read as RE2 does", () => {
    const portable = ["web-.*", "a|b|c", "h[0-6]", "x\\.y", "[^a-z_]+", "[a-]", "(us|eu)-west", ""];
    for (const pattern of portable) {
      expect(pushedRegex("postgres", pattern), pattern).toBe(`^(${pattern})$`);
    }
    const notPortable = [
      "h\\d+",
      "a{2}",
      "(?i)a",
      "[[:alpha:]]",
      "[]a]",
      "[a-c-e]",
      "[!--]",
      "[a\\]]",
      "^*",
      "a**",
      "é",
      "a\nb",
      "(a",
      "a)",
    ];
    for (const pattern of notPortable) {
      expect(pushedRegex("postgres", pattern), pattern).toBeUndefined();
      expect(pushedRegex("mysql", pattern), pattern).toBeUndefined();
    }
  });

  it("spares MariaDB's backtracking PCRE groups, repeated repetitions and `$`", () => {
    expect(pushedRegex("mysql", "web-.*")).toBe("(?s-imx)^(?:web-.*)\\z");
    expect(pushedRegex("mysql", "a-.*|b-.*|c")).toBe("(?s-imx)^(?:a-.*|b-.*|c)\\z");
    for (const pattern of ["(a+)+b", "(a|b)", ".*a.*", "a?a?a", "a$"]) {
      expect(pushedRegex("mysql", pattern), pattern).toBeUndefined();
      expect(pushedRegex("postgres", pattern), pattern).toBe(`^(${pattern})$`);
    }
  });
});
