/**
 * SQL text for a source, generated from bound expressions: identifiers quoted by the dialect,
 * every value a bound parameter — never pasted into the text.
 */
import type { Expr } from "./plan.ts";
import type { SqlDialect, SqlType, Value } from "./types.ts";
import { nsToIso } from "./values.ts";

export class ParamList {
  readonly values: Value[] = [];
  readonly dialect: SqlDialect;
  constructor(dialect: SqlDialect) {
    this.dialect = dialect;
  }
  add(v: Value, type: SqlType): string {
    this.values.push(toSourceValue(v, type, this.dialect));
    return this.dialect.placeholder(this.values.length);
  }
}

/** Engine values as the databases take them: timestamps as UTC text. */
function toSourceValue(v: Value, type: SqlType, dialect: SqlDialect): Value {
  if (type === "timestamp" && typeof v === "bigint") {
    const iso = nsToIso(v).replace("T", " ").replace("Z", "");
    return dialect.kind === "mysql" ? iso : `${iso}+00`;
  }
  return v;
}

/** Renders `expr`; `column(i)` gives the (quoted) SQL for column slot `i`. */
export function renderExpr(expr: Expr, column: (i: number) => string, params: ParamList): string {
  const r = (e: Expr): string => renderExpr(e, column, params);
  switch (expr.k) {
    case "col":
      return column(expr.i);
    case "lit":
      if (expr.v === null) return "NULL";
      if (typeof expr.v === "boolean") return expr.v ? "TRUE" : "FALSE";
      return typed(params.add(expr.v, expr.type), expr.type, params.dialect);
    case "cmp":
      return `(${r(expr.l)} ${expr.op} ${r(expr.r)})`;
    case "arith":
      return `(${r(expr.l)} ${expr.op} ${r(expr.r)})`;
    case "and":
    case "or":
      return `(${expr.args.map(r).join(` ${expr.k.toUpperCase()} `)})`;
    case "not":
      return `(NOT ${r(expr.e)})`;
    case "neg":
      return `(- ${r(expr.e)})`;
    case "isnull":
      return `(${r(expr.e)} IS ${expr.not ? "NOT " : ""}NULL)`;
    case "in":
      return `(${r(expr.e)} ${expr.not ? "NOT " : ""}IN (${expr.list.map(r).join(", ")}))`;
    case "between":
      return `(${r(expr.e)} ${expr.not ? "NOT " : ""}BETWEEN ${r(expr.lo)} AND ${r(expr.hi)})`;
    case "like": {
      // PostgreSQL escapes LIKE patterns with a backslash by default; DuckDB has no default.
      const escapeClause = params.dialect.kind === "duckdb" ? " ESCAPE '\\'" : "";
      return `(${r(expr.e)} ${expr.not ? "NOT " : ""}LIKE ${r(expr.pattern)}${escapeClause})`;
    }
    case "fn":
      return `${expr.name.toUpperCase()}(${expr.args.map(r).join(", ")})`;
    default:
      throw new Error(`cannot render ${expr.k} for a source`);
  }
}

/** Parameters whose type the database cannot infer from context get an explicit cast. */
function typed(placeholder: string, type: SqlType, dialect: SqlDialect): string {
  if (dialect.kind === "mysql") return placeholder;
  if (type === "timestamp") return `CAST(${placeholder} AS TIMESTAMPTZ)`;
  if (type === "date") return `CAST(${placeholder} AS DATE)`;
  return placeholder;
}

export function qualifiedName(dialect: SqlDialect, schema: string, table: string): string {
  return `${dialect.quoteIdentifier(schema)}.${dialect.quoteIdentifier(table)}`;
}
