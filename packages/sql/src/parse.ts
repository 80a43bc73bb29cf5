/**
 * The front door: SQL text to node-sql-parser's PostgreSQL AST. SELECT (and EXPLAIN of a
 * SELECT), INSERT, UPDATE and DELETE, and BEGIN, COMMIT and ROLLBACK are accepted — whether a
 * write may run is decided where the configuration is known; DDL and writes hidden inside a
 * SELECT are refused here. Syntax errors carry the line and column where parsing stopped. A
 * statement nested deeper than the engine can recurse, or larger than the caller allows, is
 * refused before anything recurses into it.
 */
import { EntenteError } from "@entente/protocol";
import parserModule from "node-sql-parser/build/postgresql.js";
import { badRequest, unsupported } from "./errors.ts";
import { MAX_SQL_DEPTH, parenthesesTooDeepAt, treeVerdict } from "./nesting.ts";
import { bridgeSyntax, restoreBridged, visitAst } from "./parse-bridge.ts";

// biome-ignore lint/suspicious/noExplicitAny: node-sql-parser's AST is loosely typed JSON.
export type Ast = any;

/** What a statement does, as the service dispatches it. */
export type StatementKind = "select" | "insert" | "update" | "delete" | TransactionControl;

/** The statements that open and end an interactive transaction. */
export type TransactionControl = "begin" | "commit" | "rollback";

export interface ParsedStatement {
  explain: boolean;
  /** EXPLAIN ANALYZE: run the statement and report what each operator did. */
  analyze?: boolean;
  kind: StatementKind;
  ast: Ast;
}

export interface ParseLimits {
  /** Most syntax tree nodes a statement may have (`sqlJoin.maxSqlNodes`); no limit if absent. */
  maxNodes?: number;
}

const parser = new (
  parserModule as { Parser: new () => { astify(sql: string, o: object): Ast } }
).Parser();

const EXPLAIN = /^(\s*(?:--[^\n]*\n\s*)*)(explain(?:\s+analyze)?)\b/i;
const READ_ONLY_HINT =
  "only SELECT (and EXPLAIN SELECT), and INSERT, UPDATE and DELETE on sources that take writes, are accepted";

export function parseSql(sql: string, limits: ParseLimits = {}): ParsedStatement {
  let text = sql;
  let explain = false;
  let analyze = false;
  const m = EXPLAIN.exec(text);
  if (m) {
    explain = true;
    const words = m[2] as string;
    analyze = /analyze$/i.test(words);
    // Blank the keywords out instead of cutting them, so positions in errors stay the input's.
    const start = (m[1] ?? "").length;
    text = text.slice(0, start) + " ".repeat(words.length) + text.slice(start + words.length);
  }
  if (text.trim() === "") throw badRequest("empty statement");
  const control = transactionControl(text);
  if (control) {
    if (explain) throw badRequest(`EXPLAIN of ${control.toUpperCase()} is not possible`);
    return { explain, kind: control, ast: null };
  }
  const deepAt = parenthesesTooDeepAt(text, MAX_SQL_DEPTH);
  if (deepAt >= 0) throw nestedTooDeeply(positionOf(text, deepAt));
  const bridged = bridgeSyntax(text);
  const readable = protectQuotes(bridged.text);
  let ast: Ast;
  try {
    ast = parser.astify(readable, { database: "postgresql" });
  } catch (err) {
    // The parser recurses per level of any construct; past its stack the statement is too deep.
    if (isStackOverflow(err)) throw nestedTooDeeply();
    throw syntaxError(err, text);
  }
  const shape = treeVerdict(ast, MAX_SQL_DEPTH, limits.maxNodes ?? Number.POSITIVE_INFINITY);
  if (shape.kind === "too-deep") throw nestedTooDeeply();
  if (shape.kind === "too-large") throw tooManyNodes(shape.maxNodes);
  ast = restoreQuotes(ast);
  restoreBridged(ast, bridged);
  restoreClausesAfterWindow(ast);
  if (Array.isArray(ast)) {
    const statements = ast.filter((s: Ast) => s != null);
    if (statements.length !== 1) {
      throw badRequest(`expected one statement, found ${statements.length}`);
    }
    ast = statements[0];
  }
  const type = String(ast?.type ?? "unknown");
  if (!STATEMENT_TYPES.has(type)) {
    const kind = type.toUpperCase();
    throw badRequest(`read-only: ${kind} statements are refused; ${READ_ONLY_HINT}`, {
      statement: kind,
    });
  }
  if (type !== "select" && explain) {
    throw unsupported(`EXPLAIN of ${type.toUpperCase()} is not supported; EXPLAIN its SELECT`);
  }
  // A write's own table is its target; what it reads (INSERT … SELECT, WHERE) must not write.
  const write = writeInside(type === "select" ? ast : { ...ast, type: "statement" });
  if (write) {
    throw badRequest(`read-only: ${write} is refused; ${READ_ONLY_HINT}`, { statement: write });
  }
  return { explain, ...(analyze ? { analyze } : {}), kind: type as StatementKind, ast };
}

/**
 * After a WINDOW clause the parser keeps ORDER BY and LIMIT apart, as `_orderby` and `_limit`
 * on the query's first member; they belong to the whole query, which reads them from its last
 * member (a set operation's). `OFFSET n LIMIT m` also leaves LIMIT in `_limit`, beside an OFFSET
 * the query holds; that one stays.
 */
function restoreClausesAfterWindow(ast: Ast): void {
  visitAst(ast, (node) => {
    if (node.type !== "select" || !(node._orderby || node._limit)) return;
    let last = node;
    while (last._next) last = last._next;
    if (node._orderby && !last.orderby) {
      last.orderby = node._orderby;
      delete node._orderby;
    }
    const kept = (limit: Ast) => (limit?.value ?? []).length > 0;
    if (kept(node._limit) && !kept(node.limit) && !kept(last.limit)) {
      last.limit = node._limit;
      delete node._limit;
    }
  });
}

/** The statement types a request may carry; everything else (DDL, …) is refused. */
const STATEMENT_TYPES = new Set(["select", "insert", "update", "delete"]);

const TRANSACTION_CONTROL =
  /^\s*(begin|start\s+transaction|commit|end|rollback|abort)(?:\s+(?:work|transaction))?\s*;?\s*$/i;

/** BEGIN, COMMIT or ROLLBACK (and their synonyms), alone in the statement. */
function transactionControl(text: string): TransactionControl | undefined {
  const word = TRANSACTION_CONTROL.exec(text)?.[1]?.toLowerCase();
  if (word === undefined) return undefined;
  if (word === "commit" || word === "end") return "commit";
  if (word === "rollback" || word === "abort") return "rollback";
  return "begin";
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

function nestedTooDeeply(at?: { line: number; column: number }): EntenteError {
  const where = at ? ` (parentheses at line ${at.line}, column ${at.column})` : "";
  return badRequest(
    `statement nested too deeply: more than ${MAX_SQL_DEPTH} levels${where}; each nested ` +
      "expression, parenthesis, subquery, CASE, NOT and UNION member, and each operator of a " +
      "chain such as a OR b OR c, adds one (write long OR lists as IN (…))",
    { maxDepth: MAX_SQL_DEPTH, ...at },
  );
}

function tooManyNodes(maxNodes: number): EntenteError {
  return new EntenteError(
    "TOO_LARGE",
    `statement too large: more than ${maxNodes} syntax nodes (each name, literal, operator, ` +
      "function call and clause is one; the limit is sqlJoin.maxSqlNodes)",
    { details: { maxNodes } },
  );
}

/** The 1-based line and column of an offset. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

const WRITE_STATEMENTS = new Set(["insert", "update", "delete", "replace", "create", "drop"]);

/** `SELECT … INTO` creates a table; a data-modifying statement may hide in a CTE or subquery. */
function writeInside(node: Ast): string | undefined {
  if (Array.isArray(node)) {
    for (const n of node) {
      const found = writeInside(n);
      if (found) return found;
    }
    return undefined;
  }
  if (!node || typeof node !== "object") return undefined;
  if (node.type === "select" && node.into?.expr) return "SELECT INTO";
  if (typeof node.type === "string" && WRITE_STATEMENTS.has(node.type)) {
    return `${node.type.toUpperCase()} inside another statement`;
  }
  for (const v of Object.values(node)) {
    const found = writeInside(v);
    if (found) return found;
  }
  return undefined;
}

/**
 * A parse failure: a statement the parser cannot read. Where it stopped at PostgreSQL syntax it
 * does not know (or at a locking clause) the refusal names that; otherwise it is a syntax error
 * that quotes a few dozen characters around where parsing stopped, never the whole statement.
 */
function syntaxError(err: unknown, text: string) {
  const e = err as { message?: string; location?: { start?: { line: number; column: number } } };
  const start = e.location?.start;
  if (!start) return badRequest(`syntax error: ${clip(e.message ?? String(err), 200)}`);
  const at = { line: start.line, column: start.column };
  const where = `at line ${start.line}, column ${start.column}`;
  const offset = offsetOf(text, start.line) + start.column - 1;
  const { before, after } = around(text, offset);
  const locking = /\bfor\s+$/i.test(before) ? LOCKING_READ.exec(after) : null;
  if (locking) {
    const clause = `FOR ${locking[0].toUpperCase()}`;
    return badRequest(`read-only: ${clause} is refused; ${READ_ONLY_HINT}`, { statement: clause });
  }
  const construct = unreadConstruct(before, after);
  if (construct) return unsupported(`${construct} is not supported (${where})`, at);
  const found = clip(/but (.+) found\.?$/.exec(e.message ?? "")?.[1] ?? "end of input", 40);
  return badRequest(`syntax error ${where}: unexpected ${found}\n${excerpt(text, offset)}`, at);
}

/** Where a 1-based line starts. */
function offsetOf(text: string, line: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) offset = text.indexOf("\n", offset) + 1;
  return offset;
}

/**
 * The text just before and just after an offset, enough for every rule below to recognise its
 * construct; bounded so the rules' cost does not grow with the statement. A cut is marked with
 * `…`, which no rule's anchor matches.
 */
function around(text: string, offset: number): { before: string; after: string } {
  const from = Math.max(0, offset - RULE_CONTEXT);
  return {
    before: (from > 0 ? "…" : "") + text.slice(from, offset),
    after: text.slice(offset, offset + RULE_CONTEXT),
  };
}

const RULE_CONTEXT = 1000;
const EXCERPT_BEFORE = 60;
const EXCERPT_AFTER = 20;

/** The error's line, cut to a few dozen characters around the error, and a caret under it. */
function excerpt(text: string, offset: number): string {
  const lineStart = offset > 0 ? text.lastIndexOf("\n", offset - 1) + 1 : 0;
  const newline = text.indexOf("\n", offset);
  const lineEnd = newline < 0 ? text.length : newline;
  const from = wholeCharacter(text, Math.max(lineStart, offset - EXCERPT_BEFORE));
  const to = wholeCharacter(text, Math.min(lineEnd, offset + EXCERPT_AFTER));
  const lead = from > lineStart ? "…" : "";
  const tail = to < lineEnd ? "…" : "";
  const caret = " ".repeat(lead.length + offset - from);
  return `${lead}${text.slice(from, to)}${tail}\n${caret}^`;
}

/** A cut at `i`, moved back off the middle of a surrogate pair. */
function wholeCharacter(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return i > 0 && code >= 0xdc00 && code <= 0xdfff ? i - 1 : i;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

const LOCKING_READ = /^(update|share|no\s+key\s+update|key\s+share)\b/i;

/**
 * PostgreSQL syntax the parser does not read. A syntax error just where one of these begins means
 * the construct is unsupported, not that the statement is wrong: `before` matches the text up to
 * the error, `at` the text from it, and `$1` in the name is the first group either captured.
 */
const UNREAD_SYNTAX: { before?: RegExp; at?: RegExp; name: string }[] = [
  // FETCH … ONLY with a number or parameter is read (parse-bridge.ts); WITH TIES is not.
  {
    before: /\bfetch\s+$/i,
    at: /^(first|next)\b/i,
    name: "FETCH $1 with WITH TIES or a computed count",
  },
  { at: /^fetch\s+(first|next)\b/i, name: "FETCH $1 with WITH TIES or a computed count" },
  { before: /\boffset\s+\S+\s+$/i, at: /^rows?\b/i, name: "OFFSET … ROWS" },
  { before: /\border\s+by\s[^;]*\s$/i, at: /^using\b/i, name: "ORDER BY … USING" },
  { before: /\bas\s+$/i, at: /^(?:not\s+)?materialized\b/i, name: "WITH … AS MATERIALIZED" },
  { before: /\bwith$/i, at: /^\s+ordinality\b/i, name: "WITH ORDINALITY" },
  { before: /\bfrom\s+rows\s+from$/i, name: "ROWS FROM (…)" },
  {
    before: /\b(substring|overlay)\s*\([^()]*\s$/i,
    at: /^(?:from|for|placing)\b/i,
    name: "$1(… FROM …)",
  },
  {
    before: /\b(timestamp|time)\s+with(?:out)?$/i,
    at: /^\s+time\s+zone\b/i,
    name: "$1 WITH TIME ZONE '…'",
  },
  { before: /\bover\s*\(\s*$/i, name: "a window function (OVER …)" },
  {
    // In OVER (…) any expression is read (parse-bridge.ts); in the WINDOW clause, not.
    before: /\bas\s*\(\s*partition\s+by\b(?:(?!\b(?:order|rows|range|groups)\b)[^;)])*$/i,
    at: /^(?:[-+*/%^<>=!~|&#]|::|is\b|collate\b)/i,
    name: "PARTITION BY an expression other than a column or a function call in the WINDOW clause (write it in OVER (…))",
  },
  {
    // Read as an operator at a comparison's precedence (parse-bridge.ts), which PostgreSQL's is
    // looser than.
    at: /^is\s+(?:not\s+)?distinct\s+from\b/i,
    name: "IS [NOT] DISTINCT FROM after a comparison, LIKE, IN or BETWEEN (put its left side in parentheses)",
  },
  {
    // The comma still in the FROM clause: nothing after the ON starts another clause.
    before:
      /\bjoin\b[^;]*\bon\b(?:(?!\b(?:where|group|order|having|limit|select|union|intersect|except)\b)[^;()])*,\s*[\w."]*\s*$/i,
    name: "a FROM list item after JOIN … ON (write it as CROSS JOIN, or list it first)",
  },
  { before: /^\s*(table|values)\s+$/i, name: "$1 as a statement" },
  {
    before: /\b(current_user|session_user|current_role|current_schema|current_catalog)\s*$/i,
    name: "$1",
  },
  { before: /\bu$/i, at: /^&'/, name: "the U&'…' string syntax" },
  { before: /\b([bnx])$/i, at: /^'/, name: "the $1'…' string syntax" },
  {
    before: /\b(json|jsonb|uuid|bytea|inet|cidr|macaddr|money|xml|point|tsvector|tsquery)\s+$/i,
    at: /^'/,
    name: "the $1 '…' literal syntax",
  },
  { before: /<$/, at: /^</, name: "operator <<" },
  { before: />$/, at: /^>/, name: "operator >>" },
  { at: /^(\|\|\/|\|\/|#|\^|&|\|(?!\|))/, name: "operator $1" },
];

function unreadConstruct(before: string, after: string): string | undefined {
  for (const rule of UNREAD_SYNTAX) {
    const b = rule.before ? rule.before.exec(before) : [];
    const a = rule.at ? rule.at.exec(after) : [];
    if (b && a) return rule.name.replace("$1", (b[1] ?? a[1] ?? "").toUpperCase());
  }
  return undefined;
}

// node-sql-parser drops the second quote of `""` inside a quoted identifier; carry it through as
// two private-use characters (the same length, so error positions hold) and restore it after.
const QUOTE_MARK = "\uE000\uE000";

function protectQuotes(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "'" || c === '"') {
      let j = i + 1;
      let body = "";
      while (j < text.length) {
        if (text[j] === c && text[j + 1] === c) {
          body += c === '"' ? QUOTE_MARK : "''";
          j += 2;
        } else if (text[j] === c) break;
        else body += text[j++];
      }
      out += c + body + (j < text.length ? c : "");
      i = j + 1;
    } else if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i);
      const stop = end < 0 ? text.length : end;
      out += text.slice(i, stop);
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function restoreQuotes(node: Ast): Ast {
  if (typeof node === "string")
    return node.includes(QUOTE_MARK) ? node.replaceAll(QUOTE_MARK, '"') : node;
  if (Array.isArray(node)) return node.map(restoreQuotes);
  if (node && typeof node === "object") {
    for (const k of Object.keys(node)) node[k] = restoreQuotes(node[k]);
  }
  return node;
}
