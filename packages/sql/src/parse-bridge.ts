/**
 * PostgreSQL syntax node-sql-parser does not read, rewritten into syntax it does before parsing,
 * with what the rewrite hid given back to the AST afterwards. Every rewrite keeps the text's
 * length and the position of everything after it, so syntax errors still point into the input.
 *
 * - `INTERSECT ALL` and `EXCEPT ALL`: ALL is blanked out; the set operations are marked in text
 *   order, and ALL is put back on the same operations in the AST.
 * - `SELECT ALL` (the default, which says nothing): ALL is blanked out.
 * - `GROUP BY DISTINCT` and `GROUP BY ALL`: the word is blanked out, and DISTINCT marked on the
 *   clause in the AST.
 * - `GROUPING SETS (…)` is read as a call `GROUPING_SETS(…)`, and an empty grouping set `()` in
 *   it, or directly in GROUP BY, as the empty string `''`, which becomes its own node type.
 * - Window frames: `RANGE` and `GROUPS` are read as `ROWS`, an end `n PRECEDING` as
 *   `n FOLLOWING`, and `EXCLUDE …` is blanked out; each frame is marked and given them back.
 * - `percent_rank()` and `cume_dist()` are read as ntile calls with a marker argument.
 * - `IS [NOT] DISTINCT FROM` is read as an operator the engine does not otherwise take.
 * - `OVER (w …)` loses the name of the window it refines, marked on the OVER.
 * - `OVER (PARTITION BY p ORDER BY o)` is read as `OVER (ORDER BY p, o)`, the count of partition
 *   items marked on the OVER, so that PARTITION BY takes any expression ORDER BY takes.
 * - `OFFSET n ROWS` and `FETCH FIRST n ROWS ONLY` are read as OFFSET and LIMIT, `AS
 *   [NOT] MATERIALIZED` as `AS`, and `BETWEEN [A]SYMMETRIC` as BETWEEN, SYMMETRIC marked.
 * - `substring(s FROM a FOR b)` is read as `substring(s, a, b)`.
 *
 * Marks are matched to the AST in text order, checked against what the AST holds (the set
 * operators' names, the frames' words); a statement where they disagree is refused.
 */
import { unsupported } from "./errors.ts";
import type { Ast } from "./parse.ts";

export type SetOperatorName = "union" | "intersect" | "except";

/** A set operation's keyword as written, in text order. */
export interface SetOperationMark {
  name: SetOperatorName;
  all: boolean;
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

const SET_OPERATORS = new Set<string>(["union", "intersect", "except"]);

/**
 * Window functions the parser does not take with OVER, and the `ntile` call each is written as:
 * ntile of a fraction, which no statement can mean (ntile takes an integer).
 */
const RENAMED_WINDOW_FUNCTIONS: Record<string, string> = {
  percent_rank: "1.25",
  cume_dist: "2.25",
};

/** A window frame as written: its unit, whether it ends `n PRECEDING`, what it EXCLUDEs. */
export interface FrameMark {
  unit: "rows" | "range" | "groups";
  endsPreceding: boolean;
  exclude?: "current row" | "group" | "ties" | "no others";
  /** Its words after the unit as the parser saw them, lower case, to match it in the AST. */
  words: string[];
}

export interface BridgedText {
  text: string;
  setOperations: SetOperationMark[];
  /** Whether some `()` in a GROUP BY was written as `''`. */
  emptyGroupingSets: boolean;
  /** Per GROUP BY in text order, whether it was GROUP BY DISTINCT. */
  groupBys: boolean[];
  frames: FrameMark[];
  /** Whether percent_rank() or cume_dist() was written as an ntile call. */
  renamedWindowFunctions: boolean;
  /** Whether IS [NOT] DISTINCT FROM was written as an operator. */
  distinctFrom: boolean;
  /** Per BETWEEN in text order, whether it was BETWEEN SYMMETRIC. */
  betweens: boolean[];
  /** Per OVER in text order, the named window it refines (`OVER (w ORDER BY …)`), if any. */
  overs: (string | undefined)[];
  /** Per OVER in text order, how many PARTITION BY items lead its ORDER BY list, if any. */
  partitions: (number | undefined)[];
  /** Decimal literals the parser reads through a double, by the text it gives them (see exactDecimals). */
  decimals: Map<string, string>;
}

interface Token {
  kind: "word" | "number" | "quoted" | "punct";
  text: string;
  /** Lower case, for matching keywords. */
  lower: string;
  start: number;
  end: number;
}

/** The statement's words, numbers, quoted strings and identifiers, and punctuation. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: Token["kind"], end: number) => {
    const t = text.slice(i, end);
    tokens.push({ kind, text: t, lower: t.toLowerCase(), start: i, end });
    i = end;
  };
  while (i < text.length) {
    const c = text[i] as string;
    const end = skipQuotedOrComment(text, i);
    if (end > i) {
      if (c === "'" || c === '"') push("quoted", end);
      else i = end;
    } else if (/\s/.test(c)) i++;
    else if (/[A-Za-z_]/.test(c)) push("word", scan(text, i, /[\w$]/));
    else if (/[0-9]/.test(c)) push("number", scan(text, i, /[0-9.]/));
    else push("punct", i + 1);
  }
  return tokens;
}

function scan(text: string, from: number, part: RegExp): number {
  let j = from;
  while (j < text.length && part.test(text[j] as string)) j++;
  return j;
}

/** The text being rewritten, one character per position. */
class Rewrite {
  readonly out: string[];
  constructor(text: string) {
    this.out = text.split("");
  }
  /** `text` over [from, to), the rest of that span blanked; `text` must not be longer. */
  write(from: number, to: number, text: string): void {
    for (let k = from; k < to; k++) this.out[k] = text[k - from] ?? " ";
  }
}

export function bridgeSyntax(written: string): BridgedText {
  const input = substringWithCommas(written);
  const bridged: BridgedText = {
    text: input,
    setOperations: [],
    emptyGroupingSets: false,
    groupBys: [],
    frames: [],
    renamedWindowFunctions: false,
    distinctFrom: false,
    betweens: [],
    overs: [],
    partitions: [],
    decimals: exactDecimals(input),
  };
  if (
    !/\b(intersect|except|union|all|group|range|preceding|groups|percent_rank|cume_dist|distinct|fetch|offset|materialized|between|over)\b/i.test(
      input,
    )
  )
    return bridged;
  const tokens = tokenize(input);
  const rewrite = new Rewrite(input);
  bridged.setOperations = setOperations(tokens, rewrite);
  bridged.groupBys = groupByQuantifiers(tokens, rewrite);
  bridged.emptyGroupingSets = groupingSets(tokens, rewrite);
  bridged.frames = windowFrames(tokens, rewrite);
  bridged.renamedWindowFunctions = windowFunctions(tokens, rewrite);
  bridged.distinctFrom = distinctFrom(tokens, rewrite);
  rowLimits(tokens, rewrite);
  materializedHints(tokens, rewrite);
  bridged.betweens = symmetricBetweens(tokens, rewrite);
  bridged.overs = windowRefinements(tokens, rewrite);
  bridged.partitions = partitionLists(tokens, rewrite);
  bridged.text = rewrite.out.join("");
  return bridged;
}

/**
 * The parser gives a decimal literal as `parseFloat(text).toFixed(places)`, which past a double's
 * 15–17 digits is not the number written (`0.30000000000000001` becomes `0.29999999999999999`).
 * Each literal that would change is kept by the text the parser will give it, to be given back;
 * two literals the parser would give the same text are refused.
 */
function exactDecimals(text: string): Map<string, string> {
  const decimals = new Map<string, string>();
  // Only a literal of more than 15 digits can change: most statements skip the scan.
  if (!/\d[\d.]{15}/.test(text)) return decimals;
  const written = new Map<string, string>();
  const tokens = tokenize(text);
  tokens.forEach((t, k) => {
    if (t.kind !== "number") return;
    const before = tokens[k - 1];
    // `.5` is a point token before the digits, unless it follows a name (`t.5` is not a number).
    const leadingPoint =
      before?.text === "." && before.end === t.start && tokens[k - 2]?.end !== before.start;
    const literal = leadingPoint ? `.${t.text}` : t.text;
    const point = literal.indexOf(".");
    if (point < 0 || literal.indexOf(".", point + 1) >= 0) return;
    // Written as the parser writes numbers: no leading zeros, a zero before a leading point.
    const canonical = literal.replace(/^0+(?=\d)/, "").replace(/^\./, "0.");
    const parsed = Number(literal).toFixed(literal.length - point - 1);
    const earlier = written.get(parsed);
    // Told apart only past a double's digits, which the parser's text no longer does.
    if (earlier !== undefined && earlier !== canonical)
      throw unsupported(
        `decimal literals ${earlier} and ${canonical}, equal to a double's precision, in one statement are not supported`,
      );
    written.set(parsed, canonical);
    if (parsed !== canonical) decimals.set(parsed, canonical);
  });
  return decimals;
}

/** INTERSECT ALL and EXCEPT ALL lose their ALL, as SELECT ALL does; every operator is marked. */
function setOperations(tokens: Token[], rewrite: Rewrite): SetOperationMark[] {
  const marks: SetOperationMark[] = [];
  tokens.forEach((t, k) => {
    if (t.kind !== "word") return;
    const before = tokens[k - 1];
    const after = before?.kind === "word" ? before.lower : "";
    if (SET_OPERATORS.has(t.lower)) {
      marks.push({ name: t.lower as SetOperatorName, all: false });
    } else if (t.lower === "all" && SET_OPERATORS.has(after)) {
      (marks.at(-1) as SetOperationMark).all = true;
      if (after !== "union") rewrite.write(t.start, t.end, "");
    } else if (t.lower === "all" && after === "select") {
      rewrite.write(t.start, t.end, "");
    }
  });
  return marks;
}

/** `GROUP BY DISTINCT` and `GROUP BY ALL` lose the word; every GROUP BY is marked with it. */
function groupByQuantifiers(tokens: Token[], rewrite: Rewrite): boolean[] {
  const marks: boolean[] = [];
  tokens.forEach((t, k) => {
    if (t.lower !== "by" || tokens[k - 1]?.lower !== "group") return;
    const word = tokens[k + 1];
    const quantified = word?.kind === "word" && (word.lower === "distinct" || word.lower === "all");
    if (quantified) rewrite.write(word.start, word.end, "");
    marks.push(quantified && word.lower === "distinct");
  });
  return marks;
}

/**
 * `GROUPING SETS (` becomes `GROUPING_SETS(`, and `()` standing as a grouping element (first in
 * GROUP BY's or GROUPING SETS' list, or after a comma there; not a call's empty arguments)
 * becomes `''`. Whether any `()` was rewritten.
 */
function groupingSets(tokens: Token[], rewrite: Rewrite): boolean {
  /** Per open parenthesis: whether it is GROUPING SETS' own. */
  const open: boolean[] = [];
  let groupByDepth: number | undefined;
  let wrote = false;
  let emptyStringInGroupBy = false;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    const before = tokens[k - 1];
    if (t.kind === "word") {
      if (groupByDepth === open.length && AFTER_GROUP_BY.has(t.lower)) groupByDepth = undefined;
      if (t.lower === "by" && before?.lower === "group") groupByDepth = open.length;
      if (t.lower === "sets" && before?.lower === "grouping" && groupByDepth !== undefined)
        rewrite.write(before.start, t.end, GROUPING_SETS_CALL.toUpperCase());
    } else if (t.kind === "quoted") {
      if (groupByDepth !== undefined && t.text === "''") emptyStringInGroupBy = true;
    } else if (t.text === "(") {
      const startsElement =
        (groupByDepth === open.length && (before?.lower === "by" || before?.text === ",")) ||
        (open.at(-1) === true && (before?.text === "(" || before?.text === ","));
      const close = tokens[k + 1];
      if (startsElement && close?.text === ")") {
        rewrite.write(t.start, close.end, "''");
        wrote = true;
        k++;
        continue;
      }
      const isSets =
        groupByDepth !== undefined &&
        before?.lower === "sets" &&
        tokens[k - 2]?.lower === "grouping";
      open.push(isSets);
    } else if (t.text === ")") {
      open.pop();
      if (groupByDepth !== undefined && groupByDepth > open.length) groupByDepth = undefined;
    }
  }
  if (wrote && emptyStringInGroupBy) {
    throw unsupported(
      "GROUP BY with both an empty grouping set () and the constant '' is not supported",
    );
  }
  return wrote;
}

const FRAME_UNITS = ["rows", "range", "groups"] as const;

/**
 * Whether the word at `k` is a frame unit starting a frame clause, not a column of that name in
 * PARTITION BY or ORDER BY: a bound follows it, and no `BY`, comma or operator comes before it.
 */
function startsFrame(tokens: Token[], k: number): boolean {
  const [before, t, next] = [tokens[k - 1], tokens[k], tokens[k + 1]];
  if (t?.kind !== "word" || !(FRAME_UNITS as readonly string[]).includes(t.lower)) return false;
  const bound =
    next?.kind === "number" || ["between", "unbounded", "current"].includes(next?.lower ?? "");
  const operand = before?.kind === "punct" && before.text !== ")" && before.text !== "(";
  const operatorWord = before?.kind === "word" && OPERAND_BEFORE.has(before.lower);
  return bound && !operand && !operatorWord;
}

/** Words after which a frame unit's name can only be a column: BY, operators, CASE's parts. */
const OPERAND_BEFORE = new Set([
  "by",
  "not",
  "and",
  "or",
  "when",
  "then",
  "else",
  "case",
  "is",
  "in",
  "like",
  "ilike",
  "between",
  "select",
  "where",
  "on",
  "having",
]);

/** Whether the OVER at `k` follows a call, `f(…) OVER`: a window, not a name spelled "over". */
function isWindowOver(tokens: Token[], k: number): boolean {
  const t = tokens[k];
  return t?.kind === "word" && t.lower === "over" && tokens[k - 1]?.text === ")";
}

/**
 * Window frames in OVER (…): RANGE and GROUPS are written ROWS, and a frame's end `n PRECEDING` is written
 * `n FOLLOWING`; each frame is marked with what it was.
 */
function windowFrames(tokens: Token[], rewrite: Rewrite): FrameMark[] {
  const marks: FrameMark[] = [];
  /** Per open parenthesis: whether it is a window specification's, OVER (…). */
  const open: boolean[] = [];
  let frame: FrameMark | undefined;
  let frameDepth = -1;
  let skipTo = -1;
  tokens.forEach((t, k) => {
    if (k <= skipTo) return;
    const before = tokens[k - 1];
    if (t.text === "(" && t.kind === "punct") {
      open.push(before?.lower === "over");
      return;
    }
    if (t.text === ")" && t.kind === "punct") {
      if (open.length === frameDepth) frame = undefined;
      open.pop();
      return;
    }
    if (open.at(-1) !== true) return;
    const unit = startsFrame(tokens, k) ? FRAME_UNITS.find((u) => u === t.lower) : undefined;
    if (!frame && unit) {
      frame = { unit, endsPreceding: false, words: [] };
      frameDepth = open.length;
      marks.push(frame);
      if (unit !== "rows") rewrite.write(t.start, t.end, "ROWS");
      return;
    }
    if (!frame || open.length !== frameDepth) return;
    // EXCLUDE …, which the parser does not read, is blanked out and marked on the frame.
    const exclusion = t.lower === "exclude" ? exclusionAt(tokens, k + 1) : undefined;
    if (exclusion) {
      const last = tokens[k + exclusion.length] as Token;
      rewrite.write(t.start, last.end, "");
      frame.exclude = exclusion.kind;
      skipTo = k + exclusion.length;
      return;
    }
    const endsPreceding =
      t.lower === "preceding" && before?.kind === "number" && tokens[k - 2]?.lower === "and";
    if (endsPreceding) {
      rewrite.write(t.start, t.end, "FOLLOWING");
      frame.endsPreceding = true;
    }
    frame.words.push(endsPreceding ? "following" : t.lower);
  });
  return marks;
}

/** The exclusion an EXCLUDE names at `k`, and how many words name it. */
function exclusionAt(
  tokens: Token[],
  k: number,
): { kind: NonNullable<FrameMark["exclude"]>; length: number } | undefined {
  const [first, second] = [tokens[k]?.lower, tokens[k + 1]?.lower];
  if (first === "current" && second === "row") return { kind: "current row", length: 2 };
  if (first === "no" && second === "others") return { kind: "no others", length: 2 };
  if (first === "group" || first === "ties") return { kind: first, length: 1 };
  return undefined;
}

/** `percent_rank()` and `cume_dist()` as ntile calls the binder recognises; whether any was. */
function windowFunctions(tokens: Token[], rewrite: Rewrite): boolean {
  let renamed = false;
  let markerWritten = false;
  tokens.forEach((t, k) => {
    const marker = RENAMED_WINDOW_FUNCTIONS[t.lower];
    const open = tokens[k + 1];
    const close = tokens[k + 2];
    if (t.kind === "word" && marker && open?.text === "(" && close?.text === ")") {
      rewrite.write(t.start, close.end, `ntile(${marker})`);
      renamed = true;
    }
    const arg = tokens[k + 2];
    if (
      t.lower === "ntile" &&
      open?.text === "(" &&
      arg &&
      Object.values(RENAMED_WINDOW_FUNCTIONS).includes(arg.text)
    )
      markerWritten = true;
  });
  if (renamed && markerWritten) {
    throw unsupported("ntile of a fraction beside percent_rank() or cume_dist() is not supported");
  }
  return renamed;
}

/**
 * The operators `IS DISTINCT FROM` and `IS NOT DISTINCT FROM` are written as PostgreSQL's
 * regular-expression operators `!~` and `!~*`, which the parser reads at the same precedence
 * and the engine does not otherwise take. Whether any was.
 */
function distinctFrom(tokens: Token[], rewrite: Rewrite): boolean {
  let wrote = false;
  let operatorWritten = false;
  tokens.forEach((t, k) => {
    const words = tokens.slice(k, k + 4).map((w) => (w.kind === "word" ? w.lower : ""));
    const not = words[1] === "not";
    const from = tokens[k + (not ? 3 : 2)];
    if (words[0] === "is" && words[not ? 2 : 1] === "distinct" && from?.lower === "from") {
      rewrite.write(t.start, from.end, DISTINCT_FROM_OPERATORS[not ? 1 : 0]);
      wrote = true;
    }
    if (t.text === "!" && tokens[k + 1]?.text === "~") operatorWritten = true;
  });
  if (wrote && operatorWritten) {
    throw unsupported("the operators !~ and !~* are not supported");
  }
  return wrote;
}

/**
 * The standard's row limits: `OFFSET n ROWS` loses ROWS, and `FETCH FIRST|NEXT [n] ROW|ROWS ONLY`
 * becomes `LIMIT n` (1 when no count is written). A count other than a number or a parameter,
 * and `WITH TIES`, are left for the parser to refuse.
 */
function rowLimits(tokens: Token[], rewrite: Rewrite): void {
  const isRows = (t: Token | undefined): t is Token => t?.lower === "row" || t?.lower === "rows";
  tokens.forEach((t, k) => {
    if (t.kind !== "word") return;
    if (t.lower === "offset") {
      const count = countAt(tokens, k + 1);
      const rows = count ? tokens[k + 1 + count.length] : undefined;
      if (count && isRows(rows)) rewrite.write(rows.start, rows.end, "");
      return;
    }
    if (t.lower !== "fetch" || !["first", "next"].includes(tokens[k + 1]?.lower ?? "")) return;
    const count = countAt(tokens, k + 2);
    const rowsAt = k + 2 + (count?.length ?? 0);
    const only = tokens[rowsAt + 1];
    if (!isRows(tokens[rowsAt]) || only?.lower !== "only") return;
    rewrite.write(t.start, only.end, `LIMIT ${count ? count.text : "1"}`);
  });
}

/** A count at `k`: a number, or a parameter `$n`; its text and how many tokens it takes. */
function countAt(tokens: Token[], k: number): { text: string; length: number } | undefined {
  const t = tokens[k];
  if (t?.kind === "number") return { text: t.text, length: 1 };
  const n = tokens[k + 1];
  if (t?.text === "$" && n?.kind === "number" && n.start === t.end)
    return { text: `$${n.text}`, length: 2 };
  return undefined;
}

/** `WITH x AS [NOT] MATERIALIZED (…)` is a planning hint, and the engine plans its own way. */
function materializedHints(tokens: Token[], rewrite: Rewrite): void {
  tokens.forEach((t, k) => {
    if (t.lower !== "materialized" || tokens[k + 1]?.text !== "(") return;
    const before = tokens[k - 1];
    if (before?.lower === "as") rewrite.write(t.start, t.end, "");
    else if (before?.lower === "not" && tokens[k - 2]?.lower === "as")
      rewrite.write(before.start, t.end, "");
  });
}

/** `BETWEEN SYMMETRIC` and `BETWEEN ASYMMETRIC` lose the word; every BETWEEN is marked with it. */
function symmetricBetweens(tokens: Token[], rewrite: Rewrite): boolean[] {
  const marks: boolean[] = [];
  tokens.forEach((t, k) => {
    if (t.kind !== "word" || t.lower !== "between") return;
    const word = tokens[k + 1];
    const quantified = word?.lower === "symmetric" || word?.lower === "asymmetric";
    // A window frame's BETWEEN is not an operator (and is never SYMMETRIC).
    if (!quantified && startsFrame(tokens, k - 1)) return;
    if (word && quantified) rewrite.write(word.start, word.end, "");
    marks.push(quantified && word?.lower === "symmetric");
  });
  return marks;
}

/** Words that start a window specification: anything else first in OVER (…) names a window. */
const SPECIFICATION_WORDS = new Set(["partition", "order", "rows", "range", "groups"]);

/**
 * `OVER (w …)` refines the WINDOW clause's `w`: the name is blanked out, and every OVER is
 * marked with the name it refines, if any.
 */
function windowRefinements(tokens: Token[], rewrite: Rewrite): (string | undefined)[] {
  const marks: (string | undefined)[] = [];
  tokens.forEach((_, k) => {
    if (!isWindowOver(tokens, k)) return;
    const [open, name, after] = [tokens[k + 1], tokens[k + 2], tokens[k + 3]];
    const named =
      open?.text === "(" &&
      name !== undefined &&
      (name.kind === "word" || (name.kind === "quoted" && name.text.startsWith('"'))) &&
      !SPECIFICATION_WORDS.has(name.lower) &&
      after !== undefined &&
      after.text !== "(" &&
      after.text !== ".";
    if (!named) {
      marks.push(undefined);
      return;
    }
    rewrite.write(name.start, name.end, "");
    marks.push(name.kind === "quoted" ? name.text.slice(1, -1).replaceAll('""', '"') : name.lower);
  });
  return marks;
}

/**
 * `OVER (PARTITION BY …)`: the parser reads only columns and calls there, but any expression in
 * ORDER BY. The partition items become the leading items of one ORDER BY list — PARTITION BY is
 * written `ORDER BY`, and the window's own ORDER BY a comma — and each OVER is marked with how
 * many lead.
 */
function partitionLists(tokens: Token[], rewrite: Rewrite): (number | undefined)[] {
  const marks: (number | undefined)[] = [];
  tokens.forEach((_, k) => {
    if (!isWindowOver(tokens, k)) return;
    const partition = tokens[k + 2];
    const by = tokens[k + 3];
    if (tokens[k + 1]?.text !== "(" || partition?.lower !== "partition" || by?.lower !== "by") {
      marks.push(undefined);
      return;
    }
    rewrite.write(partition.start, by.end, "ORDER BY");
    let depth = 0;
    let items = 1;
    for (let j = k + 4; j < tokens.length; j++) {
      const u = tokens[j] as Token;
      if ((u.text === "(" || u.text === "[") && u.kind === "punct") depth++;
      else if ((u.text === ")" || u.text === "]") && u.kind === "punct") {
        if (depth === 0) break;
        depth--;
      } else if (depth === 0 && u.text === "," && u.kind === "punct") items++;
      else if (depth === 0 && u.lower === "order" && tokens[j + 1]?.lower === "by") {
        rewrite.write(u.start, (tokens[j + 1] as Token).end, ",");
        break;
      } else if (depth === 0 && startsFrame(tokens, j)) break;
    }
    marks.push(items);
  });
  return marks;
}

/** The operators IS DISTINCT FROM and IS NOT DISTINCT FROM are parsed as. */
const DISTINCT_FROM_OPERATORS = ["!~", "!~*"] as const;

/** Every object in the AST, each before what it holds, in key order (which is text order). */
export function visitAst(node: Ast, visit: (node: Ast) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) visitAst(x, visit);
    return;
  }
  if (!node || typeof node !== "object") return;
  visit(node);
  for (const value of Object.values(node)) visitAst(value, visit);
}

/**
 * The values of `key` in the AST in text order: each found where the key stands among its
 * object's keys, so a clause comes after those nested in the clauses written before it.
 */
function valuesOfKey(node: Ast, key: string, found: Ast[] = []): Ast[] {
  if (Array.isArray(node)) {
    for (const x of node) valuesOfKey(x, key, found);
    return found;
  }
  if (!node || typeof node !== "object") return found;
  for (const [k, value] of Object.entries(node)) {
    if (k === key && value) found.push(value);
    valuesOfKey(value, key, found);
  }
  return found;
}

/**
 * Hands each mark to the AST node found for it in text order; refuses the statement with
 * `refusal` when the nodes are not as many as the marks or one does not agree with its mark.
 */
function matchInTextOrder<M>(
  found: Ast[],
  marks: M[],
  refusal: string,
  apply: (node: Ast, mark: M) => void,
  agrees: (node: Ast, mark: M) => boolean = () => true,
): void {
  const matched =
    found.length === marks.length && found.every((node, k) => agrees(node, marks[k] as M));
  if (!matched) throw unsupported(refusal);
  found.forEach((node, k) => {
    apply(node, marks[k] as M);
  });
}

/** Decimal literals get the text written back (see exactDecimals). */
function restoreDecimals(ast: Ast, decimals: Map<string, string>): void {
  if (decimals.size === 0) return;
  visitAst(ast, (node) => {
    if (node.type !== "number" || typeof node.value !== "string") return;
    const written = decimals.get(node.value);
    if (written !== undefined) node.value = written;
  });
}

/** Gives the parsed AST back what `bridgeSyntax` hid from the parser. */
export function restoreBridged(ast: Ast, bridged: BridgedText): void {
  restoreDecimals(ast, bridged.decimals);
  restoreSetOperations(ast, bridged.setOperations);
  if (bridged.emptyGroupingSets) markEmptyGroupingSets(ast);
  restoreGroupByDistinct(ast, bridged.groupBys);
  restoreFrames(ast, bridged.frames);
  if (bridged.renamedWindowFunctions) restoreWindowFunctions(ast);
  if (bridged.distinctFrom) restoreDistinctFrom(ast);
  restoreSymmetricBetweens(ast, bridged.betweens);
  restoreWindowRefinements(ast, bridged.overs);
  restorePartitionLists(ast, bridged.partitions);
}

/** Each OVER's leading ORDER BY items that were its PARTITION BY become its PARTITION BY again. */
function restorePartitionLists(ast: Ast, marks: (number | undefined)[]): void {
  if (!marks.some((m) => m !== undefined)) return;
  const refusal =
    "PARTITION BY in this statement could not be matched to its window calls; write the windows in the SELECT list";
  matchInTextOrder(valuesOfKey(ast, "over"), marks, refusal, (over, items) => {
    const spec = over?.as_window_specification?.window_specification;
    if (items === undefined || !spec) return;
    const list: Ast[] = spec.orderby ?? [];
    const keys = list.slice(0, items);
    if (keys.length !== items) throw unsupported(refusal);
    // A partition key has no direction: ASC, DESC or NULLS there was written after PARTITION BY.
    if (keys.some((o) => o.type || o.nulls))
      throw unsupported("ASC, DESC or NULLS in PARTITION BY is not supported");
    spec.partitionby = keys.map((o) => ({ type: "expr", expr: o.expr }));
    spec.orderby = list.length > items ? list.slice(items) : null;
  });
}

/** Each OVER that refines a named window gets `refines: name`; OVERs are found in text order. */
function restoreWindowRefinements(ast: Ast, marks: (string | undefined)[]): void {
  if (!marks.some((m) => m !== undefined)) return;
  matchInTextOrder(
    valuesOfKey(ast, "over"),
    marks,
    "OVER (name …) in this statement could not be matched to its window calls; write each window whole",
    (over, name) => {
      if (name !== undefined) over.refines = name;
    },
  );
}

/**
 * BETWEEN SYMMETRIC's operators get `symmetric: true`. The BETWEEN operators are found in text
 * order (an operator's left side before it, its bounds after), as many as were marked.
 */
function restoreSymmetricBetweens(ast: Ast, marks: boolean[]): void {
  if (!marks.includes(true)) return;
  const found: Ast[] = [];
  const collect = (node: Ast): void => {
    if (Array.isArray(node)) {
      for (const x of node) collect(x);
      return;
    }
    if (!node || typeof node !== "object") return;
    const between = node.type === "binary_expr" && /^(not )?between$/i.test(String(node.operator));
    if (!between) {
      // A window frame's BETWEEN is not an operator.
      for (const [key, value] of Object.entries(node))
        if (key !== "window_frame_clause") collect(value);
      return;
    }
    collect(node.left);
    found.push(node);
    collect(node.right);
  };
  collect(ast);
  matchInTextOrder(
    found,
    marks,
    "BETWEEN SYMMETRIC in this statement could not be matched to its BETWEEN operators; write it as two BETWEENs",
    (node, symmetric) => {
      if (symmetric) node.symmetric = true;
    },
  );
}

function restoreDistinctFrom(ast: Ast): void {
  visitAst(ast, (node) => {
    if (node.type !== "binary_expr") return;
    if (node.operator === DISTINCT_FROM_OPERATORS[0]) node.operator = "IS DISTINCT FROM";
    if (node.operator === DISTINCT_FROM_OPERATORS[1]) node.operator = "IS NOT DISTINCT FROM";
  });
}

/**
 * GROUP BY DISTINCT's clauses get `distinct: true`. The GROUP BY clauses are found in text order
 * (a clause before those nested in its items), and there must be as many as were marked.
 */
function restoreGroupByDistinct(ast: Ast, marks: boolean[]): void {
  if (!marks.includes(true)) return;
  matchInTextOrder(
    valuesOfKey(ast, "groupby"),
    marks,
    "GROUP BY DISTINCT in this statement could not be matched to its GROUP BY clauses; write the grouping sets once each",
    (clause, distinct) => {
      if (distinct) clause.distinct = true;
    },
  );
}

/**
 * The `''` inside GROUP BY clauses become empty grouping sets: `bridgeSyntax` refused the
 * statement if any of them was written as a string.
 */
function markEmptyGroupingSets(ast: Ast): void {
  for (const clause of valuesOfKey(ast, "groupby")) {
    visitAst(clause, (node) => {
      if (node.type !== "single_quote_string" || node.value !== "") return;
      for (const key of Object.keys(node)) delete node[key];
      node.type = EMPTY_GROUPING_SET;
    });
  }
}

/**
 * Puts ALL back on the INTERSECT and EXCEPT operations written with it. The parser chains a
 * query's set operations through `_next`; walking the AST so that everything a member holds
 * comes before the operation after it visits them in text order, which the names confirm.
 */
function restoreSetOperations(ast: Ast, marks: SetOperationMark[]): void {
  if (!marks.some((m) => m.all && m.name !== "union")) return;
  const found: Ast[] = [];
  collectSetOperations(ast, found);
  matchInTextOrder(
    found,
    marks,
    "INTERSECT ALL and EXCEPT ALL in this statement could not be matched to its set operations; write them in a simpler form",
    (node, mark) => {
      if (mark.all && mark.name !== "union") node.set_op = `${mark.name} all`;
    },
    (node, mark) => operatorName(node.set_op) === mark.name,
  );
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

/**
 * Gives RANGE frames their unit and `n PRECEDING` ends their direction back. The frames are
 * found in text order, as set operations are, and each one's words must be those marked.
 */
function restoreFrames(ast: Ast, marks: FrameMark[]): void {
  if (!marks.some((m) => m.unit !== "rows" || m.endsPreceding || m.exclude)) return;
  matchInTextOrder(
    valuesOfKey(ast, "window_frame_clause"),
    marks,
    "the window frames in this statement could not be matched to their clauses; write them as ROWS frames that end CURRENT ROW or FOLLOWING",
    (clause, mark) => restoreFrame(clause, mark),
    (clause, mark) => frameWords(clause).join(" ") === mark.words.join(" "),
  );
}

/** A frame clause gets back the unit, end direction and exclusion its mark says it had. */
function restoreFrame(clause: Ast, mark: FrameMark): void {
  const between = isBetween(clause);
  if (mark.unit !== "rows") {
    if (between) clause.left.value = mark.unit;
    else clause.type = mark.unit;
  }
  if (mark.endsPreceding && between) {
    const end = clause.right.value[1];
    end.value = String(end.value).replace(/following$/i, "PRECEDING");
  }
  if (mark.exclude) clause.exclude = mark.exclude;
}

function isBetween(clause: Ast): boolean {
  return clause?.type === "binary_expr" && String(clause.operator).toUpperCase() === "BETWEEN";
}

/** A frame clause's words after its unit, as the parser kept them. */
function frameWords(clause: Ast): string[] {
  const words = (edge: Ast) =>
    String(edge?.value ?? "")
      .toLowerCase()
      .split(/\s+/)
      .filter(Boolean);
  if (!isBetween(clause)) return words(clause?.expr);
  const [start, end] = clause.right?.value ?? [];
  return ["between", ...words(start), "and", ...words(end)];
}

/** The ntile calls written for percent_rank() and cume_dist() get their own names back. */
function restoreWindowFunctions(ast: Ast): void {
  visitAst(ast, (node) => {
    const nameNode = node.type === "function" ? node.name?.name?.[0] : undefined;
    const args = node.args?.value;
    if (String(nameNode?.value).toLowerCase() !== "ntile" || args?.length !== 1) return;
    const original = Object.keys(RENAMED_WINDOW_FUNCTIONS).find(
      (name) => RENAMED_WINDOW_FUNCTIONS[name] === String(args[0]?.value),
    );
    if (original) {
      nameNode.value = original;
      node.args.value = [];
    }
  });
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
