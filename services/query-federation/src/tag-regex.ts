/**
 * Tag regexes as Prometheus reads its matchers: RE2 syntax, the pattern must match the whole
 * value, and `.` matches a newline too. RE2 has no backtracking, so matching takes time linear
 * in the value whatever the pattern; in exchange it refuses what only a backtracking engine
 * can do (backreferences, lookaround), and such a pattern is a BAD_REQUEST naming it and why.
 * Pure.
 */
import { EntenteError } from "@entente/protocol";
import { RE2JS } from "re2js";

export interface TagRegex {
  /** True when the whole value matches. */
  test(value: string): boolean;
}

/**
 * Longest pattern compiled with RE2, whose compiler takes a few microseconds per character:
 * a longer one would hold the worker. Alternations of plain values (what a list of values
 * becomes) are not compiled, and have no such limit.
 */
export const MAX_REGEX_LENGTH = 4096;

/** Compiles the pattern of a `=~` or `!~` matcher on `tag`. */
export function compileTagRegex(tag: string, pattern: string): TagRegex {
  const values = literalAlternatives(pattern);
  if (values) return { test: (value) => values.has(value) };
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw refused(
      tag,
      pattern,
      `${pattern.length} characters is longer than the ${MAX_REGEX_LENGTH} a regex may have; match many values with a list`,
    );
  }
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern, RE2JS.DOTALL);
  } catch (err) {
    throw refused(
      tag,
      pattern,
      `${whyRefused(err)}; tag regexes use RE2 syntax, as Prometheus does (no backreferences or lookaround)`,
    );
  }
  return { test: (value) => compiled.testExact(value) };
}

/** Characters with a meaning of their own in RE2 outside a class. */
const SYNTAX = new Set([..."\\.+*?()|[]{}^$"]);
/** What a backslash makes literal: ASCII punctuation. */
const PUNCTUATION = /^[!-/:-@[-`{-~]$/;

/**
 * The values of a pattern that is only plain values joined by `|`, escapes of punctuation
 * aside (as `["a.b", "c"]` becomes `a\.b|c`); undefined for any other pattern. Such a pattern
 * matches a whole value exactly when the value is one of them.
 */
export function literalAlternatives(pattern: string): Set<string> | undefined {
  const values = new Set<string>();
  let value = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "|") {
      values.add(value);
      value = "";
    } else if (c === "\\") {
      const next = pattern[i + 1];
      if (next === undefined || !PUNCTUATION.test(next)) return undefined;
      value += next;
      i += 1;
    } else if (SYNTAX.has(c)) {
      return undefined;
    } else {
      value += c;
    }
  }
  values.add(value);
  return values;
}

function refused(tag: string, pattern: string, why: string): EntenteError {
  const shown = pattern.length > 200 ? `${pattern.slice(0, 200)}…` : pattern;
  return new EntenteError(
    "BAD_REQUEST",
    `tags.${tag}: invalid regular expression ${JSON.stringify(shown)}: ${why}`,
    { details: { tag } },
  );
}

/** RE2's reason without its "error parsing regexp: " preamble. */
function whyRefused(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^error parsing regexp: /, "");
}
