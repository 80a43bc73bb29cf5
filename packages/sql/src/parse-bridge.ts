/**
 * PostgreSQL syntax node-sql-parser does not read, rewritten into syntax it does before parsing,
 * with what the rewrite hid given back to the AST afterwards. Every rewrite keeps the text's
 * length and the position of everything after it, so syntax errors still point into the input.
 *
 * - `INTERSECT ALL` and `EXCEPT ALL`: ALL is blanked out; the set operations are marked in text
 *   order and `restoreSetOperations` puts ALL back on the same operations in the AST.
 * - `SELECT ALL` (the default, which says nothing): ALL is blanked out.
 * - `GROUPING SETS (…)` is read as a call `GROUPING_SETS(…)`, and an empty grouping set `()` in
 *   it, or directly in GROUP BY, as the empty string `''`, which the binder takes for `()`.
 * - `substring(s FROM a FOR b)` is read as `substring(s, a, b)`.
 */

import { unsupported } from "./errors.ts";
import type { Ast } from "./parse.ts";

export type SetOperatorName = "union" | "intersect" | "except";

/** A set operation's keyword as written, in text order. */
export interface SetOperationMark {
  name: SetOperatorName;
  all: boolean;
}

export interface BridgedText {
  text: string;
  setOperations: SetOperationMark[];
  /** Whether some `()` in a GROUP BY was written as `''`. */
  emptyGroupingSets: boolean;
}

/** The name `GROUPING SETS (…)` is parsed under, as a function call. */
export const GROUPING_SETS_CALL = "grouping_sets";

/** The AST node type an empty grouping set `()` is given once parsed. */
export const EMPTY_GROUPING_SET = "empty_grouping_set";

/** Words after which GROUP BY's list has ended (at the depth where GROUP BY stood). */
const AFTER_GROUP_BY = new Set([
  "having",
  "order",
  "limit",
  "offset",
  "window",
  "union",
  "intersect",
  "except",
  "fetch",
  "for",
]);

interface Frame {
  /** Directly inside `GROUPING SETS (…)`, where `()` is an empty grouping set. */
  groupingSets: boolean;
}

export function bridgeSyntax(written: string): BridgedText {
  const input = substringWithCommas(written);
  if (!/\b(intersect|except|union|all|grouping|group)\b/i.test(input)) {
    return { text: input, setOperations: [], emptyGroupingSets: false };
  }
  const out = input.split("");
  const setOperations: SetOperationMark[] = [];
  const frames: Frame[] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) out[k] = " ";
  };
  let previous = "";
  let previousStart = -1;
  /** The depth at which the GROUP BY being read stands, if one is. */
  let groupByDepth: number | undefined;
  let nextParenIsGroupingSets = false;
  let emptySetWritten = false;
  let emptyStringInGroupBy = false;
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    const end = skipQuotedOrComment(input, i);
    if (end > i) {
      if (groupByDepth !== undefined && input.slice(i, end) === "''") emptyStringInGroupBy = true;
      if (c === "'" || c === '"') previous = "";
      i = end;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < input.length && /[\w$]/.test(input[j] as string)) j++;
      const word = input.slice(i, j).toLowerCase();
      if (groupByDepth === frames.length && AFTER_GROUP_BY.has(word)) groupByDepth = undefined;
      if (word === "union" || word === "intersect" || word === "except") {
        setOperations.push({ name: word, all: false });
      } else if (word === "all" && ["union", "intersect", "except"].includes(previous)) {
        (setOperations.at(-1) as SetOperationMark).all = true;
        if (previous !== "union") blank(i, j);
      } else if (word === "all" && previous === "select") {
        blank(i, j);
      } else if (word === "by" && previous === "group") {
        groupByDepth = frames.length;
      } else if (word === "sets" && previous === "grouping" && groupByDepth !== undefined) {
        const name = GROUPING_SETS_CALL.toUpperCase();
        for (let k = previousStart; k < j; k++) out[k] = name[k - previousStart] ?? " ";
        nextParenIsGroupingSets = true;
      }
      previous = word;
      previousStart = i;
      i = j;
      continue;
    }
    if (c === "(") {
      const close = nextNonSpace(input, i + 1);
      // `()` as a grouping element: first in GROUP BY's list or GROUPING SETS' list, or after a
      // comma there (not a call's empty argument list).
      const inGroupingSets = frames.at(-1)?.groupingSets === true;
      const startsElement =
        (groupByDepth === frames.length && (previous === "by" || previous === ",")) ||
        (inGroupingSets && (previous === "(" || previous === ","));
      if (input[close] === ")" && startsElement) {
        out[i] = "'";
        out[i + 1] = "'";
        blank(i + 2, close + 1);
        emptySetWritten = true;
        previous = "";
        i = close + 1;
        continue;
      }
      frames.push({ groupingSets: nextParenIsGroupingSets });
    } else if (c === ")") {
      frames.pop();
      if (groupByDepth !== undefined && groupByDepth > frames.length) groupByDepth = undefined;
    }
    if (!/\s/.test(c)) {
      previous = c;
      nextParenIsGroupingSets = false;
    }
    i++;
  }
  if (emptySetWritten && emptyStringInGroupBy) {
    throw unsupported(
      "GROUP BY with both an empty grouping set () and the constant '' is not supported",
    );
  }
  return { text: out.join(""), setOperations, emptyGroupingSets: emptySetWritten };
}

/** Gives the parsed AST back what `bridgeSyntax` hid from the parser. */
export function restoreBridged(ast: Ast, bridged: BridgedText): void {
  restoreSetOperations(ast, bridged.setOperations);
  if (bridged.emptyGroupingSets) markEmptyGroupingSets(ast, false);
}

/**
 * The `''` inside GROUP BY clauses become empty grouping sets: `bridgeSyntax` refused the
 * statement if any of them was written as a string.
 */
function markEmptyGroupingSets(node: Ast, inGroupBy: boolean): void {
  if (Array.isArray(node)) {
    for (const x of node) markEmptyGroupingSets(x, inGroupBy);
    return;
  }
  if (!node || typeof node !== "object") return;
  if (inGroupBy && node.type === "single_quote_string" && node.value === "") {
    for (const key of Object.keys(node)) delete node[key];
    node.type = EMPTY_GROUPING_SET;
    return;
  }
  for (const [key, value] of Object.entries(node)) {
    markEmptyGroupingSets(value, inGroupBy || key === "groupby");
  }
}

/**
 * Puts ALL back on the INTERSECT and EXCEPT operations written with it. The parser chains a
 * query's set operations through `_next`; walking the AST so that everything a member holds
 * comes before the operation after it visits them in text order, which the names confirm.
 */
function restoreSetOperations(ast: Ast, marks: SetOperationMark[]): void {
  const restoring = marks.some((m) => m.all && m.name !== "union");
  if (!restoring) return;
  const found: Ast[] = [];
  collectSetOperations(ast, found);
  const agrees =
    found.length === marks.length &&
    found.every((node, k) => operatorName(node.set_op) === marks[k]?.name);
  if (!agrees) {
    throw unsupported(
      "INTERSECT ALL and EXCEPT ALL in this statement could not be matched to its set operations; write them in a simpler form",
    );
  }
  found.forEach((node, k) => {
    const mark = marks[k] as SetOperationMark;
    if (mark.all && mark.name !== "union") node.set_op = `${mark.name} all`;
  });
}

function collectSetOperations(node: Ast, found: Ast[]): void {
  if (Array.isArray(node)) {
    for (const x of node) collectSetOperations(x, found);
    return;
  }
  if (!node || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (key !== "_next") collectSetOperations(value, found);
  }
  if (node._next && typeof node.set_op === "string") {
    found.push(node);
    collectSetOperations(node._next, found);
  }
}

function operatorName(setOp: string): string {
  return setOp.trim().toLowerCase().split(/\s+/)[0] ?? "";
}

function nextNonSpace(text: string, i: number): number {
  let j = i;
  while (j < text.length && /\s/.test(text[j] as string)) j++;
  return j;
}

/**
 * `substring(s FROM a FOR b)` as `substring(s, a, b)`, which the parser reads: FROM and FOR
 * directly inside a substring call's parentheses become commas padded to the same length, so
 * error positions stay those of the input. Quotes and comments are passed over untouched.
 */
function substringWithCommas(text: string): string {
  if (!/substring/i.test(text)) return text;
  const out = text.split("");
  const frames: { substring: boolean; from: boolean }[] = [];
  let afterSubstring = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const end = skipQuotedOrComment(text, i);
    if (end > i) {
      i = end;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < text.length && /[\w$]/.test(text[j] as string)) j++;
      const word = text.slice(i, j).toLowerCase();
      const frame = frames.at(-1);
      if (frame?.substring && (word === "from" || word === "for")) {
        // FOR before (or without) FROM means "from 1", which no comma in place can say.
        if (word === "for" && !frame.from)
          throw unsupported(
            "SUBSTRING(… FOR …) without FROM first is not supported; write SUBSTRING(s FROM 1 FOR n)",
          );
        frame.from = true;
        out[i] = ",";
        for (let k = i + 1; k < j; k++) out[k] = " ";
      }
      afterSubstring = word === "substring";
      i = j;
      continue;
    }
    if (c === "(") {
      frames.push({ substring: afterSubstring, from: false });
    } else if (c === ")") {
      frames.pop();
    }
    if (!/\s/.test(c)) afterSubstring = false;
    i++;
  }
  return out.join("");
}

/** Where a quoted string or identifier, or a comment, starting at `i` ends; `i` if none does. */
function skipQuotedOrComment(text: string, i: number): number {
  const c = text[i];
  if (c === "'" || c === '"') {
    let j = i + 1;
    while (j < text.length) {
      if (text[j] === c && text[j + 1] === c) j += 2;
      else if (text[j] === c) return j + 1;
      else j++;
    }
    return text.length;
  }
  if (c === "-" && text[i + 1] === "-") {
    const nl = text.indexOf("\n", i);
    return nl < 0 ? text.length : nl;
  }
  if (c === "/" && text[i + 1] === "*") {
    const close = text.indexOf("*/", i + 2);
    return close < 0 ? text.length : close + 2;
  }
  return i;
}
