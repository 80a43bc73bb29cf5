import { describe, expect, it } from "vitest";
import { compileLike } from "../src/like.ts";

const like = (text: string, pattern: string) => compileLike(pattern)(text);
const ilike = (text: string, pattern: string) => compileLike(pattern, true)(text);

/**
 * LIKE by its definition, over code points: a table of which pattern prefixes match which
 * text prefixes. Quadratic, obviously right, and independent of the segment search.
 */
function referenceLike(text: string, pattern: string): boolean {
  const chars = [...text];
  type Token = { any: "one" | "run" } | { literal: string };
  const tokens: Token[] = [];
  const p = [...pattern];
  for (let i = 0; i < p.length; i++) {
    const c = p[i] as string;
    if (c === "\\") tokens.push({ literal: i + 1 < p.length ? (p[++i] as string) : "\\" });
    else if (c === "%") tokens.push({ any: "run" });
    else if (c === "_") tokens.push({ any: "one" });
    else tokens.push({ literal: c });
  }
  // matched[j]: the first i characters match the first j tokens.
  let matched = tokens.map(() => false);
  matched = [true, ...matched];
  for (let j = 1; j <= tokens.length; j++) {
    const t = tokens[j - 1] as Token;
    matched[j] = "any" in t && t.any === "run" && (matched[j - 1] as boolean);
  }
  for (const c of chars) {
    const next = [false];
    for (let j = 1; j <= tokens.length; j++) {
      const t = tokens[j - 1] as Token;
      if ("literal" in t) next[j] = (matched[j - 1] as boolean) && t.literal === c;
      else if (t.any === "one") next[j] = matched[j - 1] as boolean;
      else next[j] = (next[j - 1] as boolean) || (matched[j] as boolean);
    }
    matched = next;
  }
  return matched[tokens.length] as boolean;
}

/** A small deterministic generator, so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe("LIKE", () => {
  it("matches literals, _ and % as PostgreSQL does", () => {
    expect(like("abc", "abc")).toBe(true);
    expect(like("abc", "ab")).toBe(false);
    expect(like("abc", "a_c")).toBe(true);
    expect(like("ac", "a_c")).toBe(false);
    expect(like("abc", "a%")).toBe(true);
    expect(like("abc", "%c")).toBe(true);
    expect(like("abc", "%b%")).toBe(true);
    expect(like("abc", "%d%")).toBe(false);
    expect(like("", "%")).toBe(true);
    expect(like("", "")).toBe(true);
    expect(like("", "_")).toBe(false);
    expect(like("aXbXc", "a%b%c")).toBe(true);
    expect(like("abab", "%ab")).toBe(true);
    expect(like("aab", "a%ab")).toBe(true);
    expect(like("ab", "a%ab")).toBe(false);
  });

  it("takes the character after a backslash literally; a trailing backslash is itself", () => {
    expect(like("50%", "50\\%")).toBe(true);
    expect(like("500", "50\\%")).toBe(false);
    expect(like("a_b", "a\\_b")).toBe(true);
    expect(like("axb", "a\\_b")).toBe(false);
    expect(like("a\\b", "a\\\\b")).toBe(true);
    expect(like("a\\", "a\\")).toBe(true);
  });

  it("counts a character outside the Basic Multilingual Plane as one", () => {
    expect(like("a😀b", "a_b")).toBe(true);
    expect(like("a😀b", "a__b")).toBe(false);
    expect(like("😀😀", "%_😀")).toBe(true);
    expect(like("x😀", "%_")).toBe(true);
    expect(like("😀", "__")).toBe(false);
  });

  it("ILIKE lowercases each character on its own", () => {
    expect(ilike("ABC", "a_c")).toBe(true);
    expect(ilike("Straße", "STRASSE")).toBe(false);
    expect(ilike("STRASSE", "straße")).toBe(false);
    expect(ilike("ΟΔΟΣ", "οδοσ")).toBe(true);
    expect(ilike("İx", "_X")).toBe(true);
    expect(ilike("Ab%", "aB\\%")).toBe(true);
    expect(like("ABC", "abc")).toBe(false);
  });

  it("answers the pattern that makes a backtracking matcher take n^k steps at once", () => {
    expect(like("a".repeat(60), "%a%a%a%a%a%a%e")).toBe(false);
    expect(like("a".repeat(100_000), `${"%a".repeat(50)}%e`)).toBe(false);
    expect(like(`${"a".repeat(100_000)}e`, `${"%a".repeat(50)}%e`)).toBe(true);
    expect(like("a".repeat(100_000), `${"%_a".repeat(50)}%e`)).toBe(false);
    expect(ilike("A".repeat(100_000), `${"%a".repeat(50)}%e`)).toBe(false);
  });

  it("agrees with LIKE's definition on random texts and patterns", () => {
    const next = random(20_261_202);
    const pick = (of: string[]) => of[Math.floor(next() * of.length)] as string;
    const textChars = ["a", "b", "A", "😀", "%", "_", "\\"];
    const patternParts = ["a", "b", "A", "😀", "%", "_", "\\%", "\\_", "\\\\", "%%", "\\"];
    for (let n = 0; n < 20_000; n++) {
      const text = Array.from({ length: Math.floor(next() * 9) }, () => pick(textChars)).join("");
      const pattern = Array.from({ length: Math.floor(next() * 7) }, () => pick(patternParts)).join(
        "",
      );
      const expected = referenceLike(text, pattern);
      if (like(text, pattern) !== expected) {
        throw new Error(`${JSON.stringify(text)} LIKE ${JSON.stringify(pattern)}: ${expected}`);
      }
      const folded = referenceLike(text.toLowerCase(), pattern.toLowerCase());
      if (ilike(text, pattern) !== folded) {
        throw new Error(`${JSON.stringify(text)} ILIKE ${JSON.stringify(pattern)}: ${folded}`);
      }
    }
  });
});
