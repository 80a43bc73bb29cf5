/**
 * Which tag regexes a database runs exactly as the worker does (RE2, whole value, `.` matching
 * a newline too), and the pattern it is sent. Pure.
 *
 * - DuckDB's regexes are RE2: every pattern goes, wrapped in `(?s:…)` for regexp_full_match.
 * - PostgreSQL's ARE agrees with RE2 on a portable subset (below); ARE's `.` and negated
 *   classes match a newline and its `^`/`$` only the ends of the text, as RE2's with `(?s)`.
 * - MariaDB's PCRE agrees on the same subset without `$` (PCRE's also matches before a final
 *   newline), told `(?s)` and anchored with `\z`. PCRE backtracks, so it is sent only patterns
 *   it cannot backtrack badly on: no groups, and at most one repetition in each alternative,
 *   which leaves it one choice point per character — `web-.*` and `a|b|c` go, `(a+)+b` does
 *   not.
 *
 * Anything else is applied by the worker to the rows the rest of the filter lets through.
 */
import type { SourceKind } from "@entente/connectors";

/** The pattern `kind` runs for a full match of `pattern`, or undefined to match in the worker. */
export function pushedRegex(kind: SourceKind, pattern: string): string | undefined {
  if (kind === "duckdb") return `(?s:${pattern})`;
  const shape = portableShape(pattern);
  if (!shape) return undefined;
  if (kind === "postgres") return `^(${pattern})$`;
  if (shape.endAnchors || shape.groups > 0 || shape.repetitionsPerAlternative > 1) {
    return undefined;
  }
  return `(?s-imx)^(?:${pattern})\\z`;
}

export interface RegexShape {
  groups: number;
  /** Whether the pattern has a `$` of its own. */
  endAnchors: boolean;
  /** The most repetition operators (`*`, `+`, `?`) in one top-level alternative. */
  repetitionsPerAlternative: number;
}

/** Characters that are themselves everywhere in all three syntaxes. */
const LITERAL = /^[A-Za-z0-9 _,:;=@#%&'"<>/!~`-]$/;
/** Characters that are themselves inside a bracket expression in all three. */
const CLASS_LITERAL = /^[A-Za-z0-9 _,:;=@#%&'"<>/!~`.*+?()|${}^]$/;
/** Characters a backslash makes literal alike in all three. */
const ESCAPABLE = new Set([..."\\.*+?^$()|[]{}-/"]);

/**
 * The shape of a pattern written only in syntax RE2, ARE and PCRE read alike — ASCII literals,
 * `\` before punctuation, `.`, bracket expressions of literals and alphanumeric ranges,
 * groups without `?`, `|`, `^`, `$`, and `*`, `+`, `?` (lazy or not) after an atom — or
 * undefined for anything else (`\d`, `{n}`, `(?i)`, POSIX classes, …).
 */
export function portableShape(pattern: string): RegexShape | undefined {
  let groups = 0;
  let depth = 0;
  let repetitions = 0;
  let most = 0;
  let endAnchors = false;
  // Whether the last thing read is an atom a repetition may follow.
  let atom = false;
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i] as string;
    if (c === "*" || c === "+" || c === "?") {
      if (!atom) return undefined;
      repetitions += 1;
      i += pattern[i + 1] === "?" ? 2 : 1;
      atom = false;
      continue;
    }
    if (c === "(") {
      if (pattern[i + 1] === "?") return undefined;
      groups += 1;
      depth += 1;
      atom = false;
      i += 1;
    } else if (c === ")") {
      if (depth === 0) return undefined;
      depth -= 1;
      atom = true;
      i += 1;
    } else if (c === "|") {
      if (depth === 0) {
        most = Math.max(most, repetitions);
        repetitions = 0;
      }
      atom = false;
      i += 1;
    } else if (c === "^" || c === "$") {
      endAnchors ||= c === "$";
      atom = false;
      i += 1;
    } else if (c === "[") {
      const end = bracketEnd(pattern, i);
      if (end < 0) return undefined;
      atom = true;
      i = end;
    } else if (c === "\\") {
      if (!ESCAPABLE.has(pattern[i + 1] as string)) return undefined;
      atom = true;
      i += 2;
    } else if (c === "." || LITERAL.test(c)) {
      atom = true;
      i += 1;
    } else {
      return undefined;
    }
  }
  if (depth !== 0) return undefined;
  return { groups, endAnchors, repetitionsPerAlternative: Math.max(most, repetitions) };
}

/**
 * Just past the bracket expression opening at `start`, or -1 when it is not portable: `-` is
 * literal only first or last, a range joins two digits, two lower- or two upper-case letters.
 */
function bracketEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === "^") i += 1;
  const first = i;
  if (pattern[i] === "]") return -1;
  while (i < pattern.length && pattern[i] !== "]") {
    const c = pattern[i] as string;
    if (c === "-") {
      if (i !== first && pattern[i + 1] !== "]") return -1;
      i += 1;
    } else if (!CLASS_LITERAL.test(c)) {
      return -1;
    } else if (pattern[i + 1] === "-" && pattern[i + 2] !== "]" && i + 2 < pattern.length) {
      if (!rangeOf(c, pattern[i + 2] as string)) return -1;
      i += 3;
      if (pattern[i] === "-" && pattern[i + 1] !== "]") return -1;
    } else {
      i += 1;
    }
  }
  return i < pattern.length ? i + 1 : -1;
}

function rangeOf(from: string, to: string): boolean {
  const kind = (c: string) =>
    c >= "0" && c <= "9" ? 1 : c >= "a" && c <= "z" ? 2 : c >= "A" && c <= "Z" ? 3 : 0;
  return kind(from) !== 0 && kind(from) === kind(to) && from <= to;
}
