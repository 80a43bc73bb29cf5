/**
 * The front door: SQL text to node-sql-parser's PostgreSQL AST. Only SELECT (and EXPLAIN of a
 * SELECT) is accepted; syntax errors carry the line and column where parsing stopped.
 */
import parserModule from "node-sql-parser/build/postgresql.js";
import { badRequest } from "./errors.ts";

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

function syntaxError(err: unknown, text: string) {
  const e = err as { message?: string; location?: { start?: { line: number; column: number } } };
  const start = e.location?.start;
  if (!start) return badRequest(`syntax error: ${e.message ?? String(err)}`);
  const lines = text.split("\n");
  const lineText = lines[start.line - 1] ?? "";
  const found = /but (.+) found\.?$/.exec(e.message ?? "")?.[1] ?? "end of input";
  const pointer = `${lineText}\n${" ".repeat(Math.max(0, start.column - 1))}^`;
  return badRequest(
    `syntax error at line ${start.line}, column ${start.column}: unexpected ${found}\n${pointer}`,
    { line: start.line, column: start.column },
  );
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
