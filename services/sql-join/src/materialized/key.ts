/**
 * What makes two statements "the same" for materialized results: the syntax tree the engine
 * plans from, plus the parameters. The parser has already dropped whitespace, comments, keyword
 * case and a trailing semicolon; everything the tree keeps (literals exactly as written, names
 * with their case, quoted or not) stays part of the key, so statements the engine could answer
 * differently never share one. The key is the SHA-256 of a canonical JSON rendering; the id is a
 * short prefix of it (the full key is kept and compared, so a prefix collision is a miss).
 */
import { createHash } from "node:crypto";
import type { Ast } from "@entente/sql";

/** Hex digits of the key that make the id (48 bits). */
export const ID_LENGTH = 12;

/** Bumped when the key's derivation changes, so old entries stop matching instead of lying. */
const KEY_VERSION = "entente-materialized/1";

export interface StatementKey {
  /** SHA-256 hex of the statement's tree and its parameters. */
  key: string;
  /** The key's first ID_LENGTH digits: the KV key and the cold table's `mat_<id>`. */
  id: string;
}

export function statementKey(ast: Ast, params: readonly unknown[]): StatementKey {
  const text = `${KEY_VERSION}\n${canonicalJson(ast)}\n${canonicalJson(encodeParams(params))}`;
  const key = createHash("sha256").update(text).digest("hex");
  return { key, id: key.slice(0, ID_LENGTH) };
}

/** A parameter as JSON that keeps its type: bigints and bytes are tagged, the rest as is. */
export type StoredParam = { v: unknown } | { bigint: string } | { bytes: string };

export function encodeParams(params: readonly unknown[]): StoredParam[] {
  return params.map((p) => {
    if (typeof p === "bigint") return { bigint: p.toString() };
    if (p instanceof Uint8Array) return { bytes: Buffer.from(p).toString("base64") };
    return { v: p === undefined ? null : p };
  });
}

export function decodeParams(stored: readonly StoredParam[]): unknown[] {
  return stored.map((p) => {
    if ("bigint" in p) return BigInt(p.bigint);
    if ("bytes" in p) return new Uint8Array(Buffer.from(p.bytes, "base64"));
    return p.v;
  });
}

/** JSON with object keys sorted, so equal trees render equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "bigint":
      return JSON.stringify({ bigint: value.toString() });
    case "number":
    case "boolean":
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      if (value instanceof Uint8Array) {
        return JSON.stringify({ bytes: Buffer.from(value).toString("base64") });
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined && typeof v !== "function")
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    default:
      return "null";
  }
}

/**
 * The statement's text with comments gone, runs of whitespace made one space and trailing
 * semicolons dropped; string literals, quoted identifiers and dollar-quoted bodies are kept as
 * written. For display and for running the statement again; the caller checks that the result
 * still parses to the same tree and keeps the original text otherwise.
 */
export function normalizeSqlText(sql: string): string {
  let out = "";
  let space = false;
  const emitSpace = () => {
    space = out.length > 0;
  };
  const emit = (text: string) => {
    if (space) out += " ";
    space = false;
    out += text;
  };
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      emitSpace();
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      emitSpace();
    } else if (c === "/" && sql[i + 1] === "*") {
      // PostgreSQL's block comments nest.
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === "/" && sql[j + 1] === "*") {
          depth++;
          j += 2;
        } else if (sql[j] === "*" && sql[j + 1] === "/") {
          depth--;
          j += 2;
        } else j++;
      }
      i = j;
      emitSpace();
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]$/.test(out) && !/[A-Za-z0-9_$][eE]$/.test(out);
      const end = quotedEnd(sql, i, c, escapes);
      emit(sql.slice(i, end));
      i = end;
    } else if (c === "$") {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 130));
      if (tag && !/[A-Za-z0-9_]$/.test(out)) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        const end = close < 0 ? n : close + tag[0].length;
        emit(sql.slice(i, end));
        i = end;
      } else {
        emit(c);
        i++;
      }
    } else {
      emit(c);
      i++;
    }
  }
  return out.replace(/(?:\s*;)+\s*$/, "").trim();
}

/** Where a quoted token starting at `start` ends (just past its closing quote). */
function quotedEnd(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let j = start + 1;
  while (j < sql.length) {
    const ch = sql[j];
    if (backslashEscapes && ch === "\\") j += 2;
    else if (ch === quote && sql[j + 1] === quote) j += 2;
    else if (ch === quote) return j + 1;
    else j++;
  }
  return sql.length;
}
