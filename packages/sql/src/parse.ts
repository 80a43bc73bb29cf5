/**
 * The front door: SQL text to node-sql-parser's PostgreSQL AST. Only SELECT (and EXPLAIN of a
 * SELECT) is accepted; syntax errors carry the line and column where parsing stopped.
 */
import parserModule from "node-sql-parser/build/postgresql.js";
import { badRequest, unsupported } from "./errors.ts";

// biome-ignore lint/suspicious/noExplicitAny: node-sql-parser's AST is loosely typed JSON.
export type Ast = any;

export interface ParsedStatement {
  explain: boolean;
  ast: Ast;
}

const parser = new (
  parserModule as { Parser: new () => { astify(sql: string, o: object): Ast } }
).Parser();

const EXPLAIN = /^(\s*(?:--[^\n]*\n\s*)*)explain\b/i;
const READ_ONLY_HINT = "only SELECT statements (and EXPLAIN SELECT) are accepted";

export function parseSql(sql: string): ParsedStatement {
  let text = sql;
  let explain = false;
  const m = EXPLAIN.exec(text);
  if (m) {
    explain = true;
    // Blank the keyword out instead of cutting it, so positions in errors stay those of the input.
    const start = (m[1] ?? "").length;
    text = text.slice(0, start) + " ".repeat(7) + text.slice(start + 7);
  }
  if (text.trim() === "") throw badRequest("empty statement");
  let ast: Ast;
  try {
    ast = restoreQuotes(parser.astify(protectQuotes(text), { database: "postgresql" }));
  } catch (err) {
    throw syntaxError(err, text);
  }
  if (Array.isArray(ast)) {
    const statements = ast.filter((s: Ast) => s != null);
    if (statements.length !== 1) {
      throw badRequest(`expected one statement, found ${statements.length}`);
    }
    ast = statements[0];
  }
  if (ast?.type !== "select") {
    const kind = String(ast?.type ?? "unknown").toUpperCase();
    throw badRequest(`read-only: ${kind} statements are refused; ${READ_ONLY_HINT}`, {
      statement: kind,
    });
  }
  const write = writeInside(ast);
  if (write) {
    throw badRequest(`read-only: ${write} is refused; ${READ_ONLY_HINT}`, { statement: write });
  }
  return { explain, ast };
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
    return `${node.type.toUpperCase()} inside a SELECT`;
  }
  for (const v of Object.values(node)) {
    const found = writeInside(v);
    if (found) return found;
  }
  return undefined;
}

/**
 * A parse failure: a statement the parser cannot read. Where it stopped at PostgreSQL syntax it
 * does not know (or at a locking clause) the refusal names that; otherwise it is a syntax error.
 */
function syntaxError(err: unknown, text: string) {
  const e = err as { message?: string; location?: { start?: { line: number; column: number } } };
  const start = e.location?.start;
  if (!start) return badRequest(`syntax error: ${e.message ?? String(err)}`);
  const at = { line: start.line, column: start.column };
  const where = `at line ${start.line}, column ${start.column}`;
  const lines = text.split("\n");
  const offset = lines.slice(0, start.line - 1).reduce((n, l) => n + l.length + 1, 0);
  const before = text.slice(0, offset + start.column - 1);
  const after = text.slice(offset + start.column - 1);
  const locking = /\bfor\s+$/i.test(before) ? LOCKING_READ.exec(after) : null;
  if (locking) {
    const clause = `FOR ${locking[0].toUpperCase()}`;
    return badRequest(`read-only: ${clause} is refused; ${READ_ONLY_HINT}`, { statement: clause });
  }
  const construct = unreadConstruct(before, after);
  if (construct) return unsupported(`${construct} is not supported (${where})`, at);
  const found = /but (.+) found\.?$/.exec(e.message ?? "")?.[1] ?? "end of input";
  const pointer = `${lines[start.line - 1] ?? ""}\n${" ".repeat(Math.max(0, start.column - 1))}^`;
  return badRequest(`syntax error ${where}: unexpected ${found}\n${pointer}`, at);
}

const LOCKING_READ = /^(update|share|no\s+key\s+update|key\s+share)\b/i;

/**
 * PostgreSQL syntax the parser does not read. A syntax error just where one of these begins means
 * the construct is unsupported, not that the statement is wrong: `before` matches the text up to
 * the error, `at` the text from it, and `$1` in the name is the first group either captured.
 */
const UNREAD_SYNTAX: { before?: RegExp; at?: RegExp; name: string }[] = [
  { before: /\bgrouping\s+$/i, at: /^sets\b/i, name: "GROUP BY GROUPING SETS" },
  { before: /\bgroup\s+by\s+\($/i, at: /^\)/, name: "GROUP BY ()" },
  { before: /\bgroup\s+by\s+distinct\s+$/i, name: "GROUP BY DISTINCT" },
  { before: /\b(intersect|except)\s+$/i, at: /^all\b/i, name: "$1 ALL" },
  { before: /\bis\s+not\s+distinct\s+$/i, at: /^from\b/i, name: "IS NOT DISTINCT FROM" },
  { before: /\bbetween\s+symmetric\s+$/i, name: "BETWEEN SYMMETRIC" },
  { before: /\bfetch\s+$/i, at: /^(first|next)\b/i, name: "FETCH $1" },
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
