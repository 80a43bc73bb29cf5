/**
 * SQL text for a source, generated from bound expressions: identifiers quoted by the dialect,
 * every value a bound parameter — never pasted into the text.
 */
import { Decimal } from "./decimal.ts";
import type { Expr } from "./plan.ts";
import type {
  CatalogTable,
  ColumnDef,
  SourceStatement,
  SqlDialect,
  SqlType,
  Value,
} from "./types.ts";
import { nsToIso } from "./values.ts";

/** Marks a parameter's place in text being built; no identifier or SQL keyword holds a NUL. */
const MARK = "\u0000";

/**
 * The values bound to a statement being rendered. Parts of a statement are rendered in plan order
 * (a FROM subquery before the SELECT list around it) but positional placeholders (`?`) bind in
 * text order, so `add` returns a mark and `statement` numbers the marks as they appear in the
 * finished text, for every dialect alike.
 */
export class ParamList {
  private readonly added: Value[] = [];
  readonly dialect: SqlDialect;
  constructor(dialect: SqlDialect) {
    this.dialect = dialect;
  }
  add(v: Value, type: SqlType): string {
    this.added.push(toSourceValue(v, type, this.dialect));
    const mark = `${MARK}${this.added.length - 1}${MARK}`;
    // MySQL compares a decimal with a text or double parameter as doubles, DuckDB's bare DECIMAL
    // keeps three places: a decimal is said with its own precision and scale, exactly.
    if (v instanceof Decimal && this.dialect.kind !== "postgres") {
      // Past the widest DECIMAL, a double (MySQL compares a text parameter as one anyway).
      const type = exactDecimalType(v, this.dialect) ?? "DOUBLE";
      if (type !== "DOUBLE" || this.dialect.kind === "duckdb") return `CAST(${mark} AS ${type})`;
    }
    return mark;
  }
  /** How many values have been added. */
  get count(): number {
    return this.added.length;
  }
  /**
   * The finished text with its placeholders in text order, and the values bound in that order:
   * after `before`, the values of finished text that comes first in the statement.
   */
  statement(text: string, before: readonly Value[] = []): SourceStatement {
    // `MARK index MARK`: splitting on the marks leaves every index at an odd position.
    const parts = text.split(MARK);
    const params: Value[] = [...before];
    for (let i = 1; i < parts.length; i += 2) {
      params.push(this.added[Number(parts[i])]);
      parts[i] = this.dialect.placeholder(params.length);
    }
    return { sql: parts.join(""), params };
  }
}

/**
 * GROUP BY for the leading SELECT items `groups`: their text, or their positions where one holds
 * a parameter, since a placeholder written twice would be two parameters the source cannot match.
 */
export function groupByList(groups: string[]): string {
  if (!groups.some((g) => g.includes(MARK))) return groups.join(", ");
  return groups.map((_, i) => i + 1).join(", ");
}

/**
 * GROUP BY GROUPING SETS for the leading SELECT items `groups`, as PostgreSQL and DuckDB write
 * it; undefined where a group holds a parameter (its placeholder would be a second parameter).
 */
export function groupingSetsList(groups: string[], sets: number[][]): string | undefined {
  if (groups.some((g) => g.includes(MARK))) return undefined;
  const each = sets.map((set) => `(${set.map((i) => groups[i]).join(", ")})`);
  return `GROUPING SETS (${each.join(", ")})`;
}

/** DECIMAL(p, s) that holds `d` exactly, within what the database allows; undefined past it. */
function exactDecimalType(d: Decimal, dialect: SqlDialect): string | undefined {
  const digits = (d.unscaled < 0n ? -d.unscaled : d.unscaled).toString().length;
  const precision = Math.max(digits, d.scale + 1);
  const [maxPrecision, maxScale] = dialect.kind === "mysql" ? [65, 30] : [38, 38];
  if (precision > maxPrecision || d.scale > maxScale) return undefined;
  return `DECIMAL(${precision}, ${d.scale})`;
}

/** Engine values as the databases take them: timestamps as UTC text, decimals as exact text. */
function toSourceValue(v: Value, type: SqlType, dialect: SqlDialect): Value {
  if (v instanceof Decimal) return v.toString();
  if (type === "timestamp" && typeof v === "bigint") {
    const iso = nsToIso(v).replace("T", " ").replace("Z", "");
    return dialect.kind === "mysql" ? iso : `${iso}+00`;
  }
  return v;
}

/**
 * A value assigned to a column (UPDATE … SET c = value): a lone literal is bound as the column's
 * own type, uncast, as it is beside a column in a comparison, and a lone column is named as
 * stored (`storedColumn`) — text (`CAST($1 AS TEXT)`, `CAST("v" AS TEXT)`) would not be
 * assignable to a uuid or enum column. Any other value is computed as `column` names columns.
 */
export function renderAssigned(
  expr: Expr,
  column: ColumnText,
  storedColumn: (i: number) => string,
  params: ParamList,
): string {
  if (expr.k === "lit") return literal(expr, params, true);
  if (expr.k === "col") return storedColumn(expr.i);
  return renderExpr(expr, column, params);
}

/**
 * How a column is used where it is named: compared with these values only (none: tested for
 * NULL), or as a sort or group key (`"key"`); undefined for any other use. A column that compares
 * alike as stored there (`columnSql`) is named as stored, where the source's statistics and
 * indexes see it.
 */
export type ColumnUse = readonly Expr[] | "key";

/** The SQL for column slot `i`, used as `use` says. */
export type ColumnText = (i: number, use?: ColumnUse) => string;

/** A sort or group key: a lone column named as one (see `ColumnUse`), any other expression. */
export function renderKey(e: Expr, column: ColumnText, params: ParamList): string {
  return e.k === "col" ? column(e.i, "key") : renderExpr(e, column, params);
}

/** Renders `expr`; `column(i)` gives the (quoted) SQL for column slot `i`. */
export function renderExpr(expr: Expr, column: ColumnText, params: ParamList): string {
  const r = (e: Expr): string => renderExpr(e, column, params);
  // A value compared with a column takes the column's type in the source, as an index wants.
  const beside = (e: Expr, other: Expr): string =>
    e.k === "lit" && other.k === "col" ? literal(e, params, true, other.type) : r(e);
  const exact = (sql: string) => exactText(sql, params.dialect);
  /** A column compared with these values only, as stored where that compares the same. */
  const comparedColumn = (e: Expr, values: Expr[]): string =>
    e.k === "col" ? column(e.i, values) : r(e);
  switch (expr.k) {
    case "col":
      return column(expr.i);
    case "lit":
      return literal(expr, params, false);
    case "cmp": {
      const l = expr.l.k === "col" ? comparedColumn(expr.l, [expr.r]) : beside(expr.l, expr.r);
      const rt = expr.r.k === "col" ? comparedColumn(expr.r, [expr.l]) : beside(expr.r, expr.l);
      const text = expr.l.type === "text" || expr.r.type === "text";
      return text ? `(${exact(l)} ${expr.op} ${exact(rt)})` : `(${l} ${expr.op} ${rt})`;
    }
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
      return `(${comparedColumn(expr.e, [])} IS ${expr.not ? "NOT " : ""}NULL)`;
    case "in": {
      const e = comparedColumn(expr.e, expr.list);
      return `(${expr.e.type === "text" ? exact(e) : e} ${expr.not ? "NOT " : ""}IN (${expr.list.map((x) => beside(x, expr.e)).join(", ")}))`;
    }
    case "between": {
      const e = comparedColumn(expr.e, [expr.lo, expr.hi]);
      return `(${expr.e.type === "text" ? exact(e) : e} ${expr.not ? "NOT " : ""}BETWEEN ${beside(expr.lo, expr.e)} AND ${beside(expr.hi, expr.e)})`;
    }
    case "like": {
      // PostgreSQL escapes LIKE patterns with a backslash by default; DuckDB has no default.
      const escapeClause = params.dialect.kind === "duckdb" ? " ESCAPE '\\'" : "";
      return `(${exact(r(expr.e))} ${expr.not ? "NOT " : ""}LIKE ${beside(expr.pattern, expr.e)}${escapeClause})`;
    }
    case "case": {
      const operand = expr.operand;
      // A text result is text in the source too: a uuid or enum branch would not match a text one.
      const asText = expr.type === "text" && params.dialect.kind !== "mysql";
      const result = (e: Expr) => (asText && e.k !== "lit" ? `CAST(${r(e)} AS TEXT)` : r(e));
      const whens = expr.whens.map(
        ([c, v]) => ` WHEN ${operand ? beside(c, operand) : r(c)} THEN ${result(v)}`,
      );
      const otherwise = expr.else ? ` ELSE ${result(expr.else)}` : "";
      return `(CASE${operand ? ` ${r(operand)}` : ""}${whens.join("")}${otherwise} END)`;
    }
    case "fn":
      if (expr.name === "extract") {
        const [field, x] = expr.args as [Extract<Expr, { k: "lit" }>, Expr];
        return `EXTRACT(${String(field.v).toUpperCase()} FROM ${r(x)})`;
      }
      if (expr.name === "substring" || expr.name === "substr") {
        // Of the text the engine reads: a uuid, enum or money column has no SUBSTRING of its own.
        const [s, ...positions] = expr.args as [Expr, ...Expr[]];
        const text = params.dialect.kind === "duckdb" ? "VARCHAR" : "TEXT";
        return `SUBSTRING(${[`CAST(${r(s)} AS ${text})`, ...positions.map(r)].join(", ")})`;
      }
      return `${expr.name.toUpperCase()}(${expr.args.map(r).join(", ")})`;
    default:
      throw new Error(`cannot render ${expr.k} for a source`);
  }
}

/**
 * Text in the source's exact collation (`SqlDialect.exactTextCollation`), where its own would
 * ignore case or trailing blanks: MariaDB's `'a' = 'A '` is true under its default collations.
 * For IN, BETWEEN and LIKE naming one side is enough: the other is coerced to it.
 */
function exactText(sql: string, dialect: SqlDialect): string {
  const collation = dialect.exactTextCollation;
  if (!collation) return sql;
  const charset = collation.slice(0, collation.indexOf("_"));
  return `CONVERT(${sql} USING ${charset}) COLLATE ${collation}`;
}

/** A literal as a parameter; `columnType` is the type of the column it is compared with. */
function literal(
  e: Extract<Expr, { k: "lit" }>,
  params: ParamList,
  besideColumn: boolean,
  columnType?: SqlType,
): string {
  if (e.v === null) return "NULL";
  if (typeof e.v === "boolean") return e.v ? "TRUE" : "FALSE";
  if (e.v instanceof Decimal) return decimalLiteral(e.v, params, columnType);
  return typed(params.add(e.v, e.type), e.type, params.dialect, besideColumn);
}

/**
 * A decimal as a parameter. MySQL and DuckDB are told its precision and scale (see
 * ParamList.add). PostgreSQL would read an untyped `2.0` beside an integer column as an integer
 * and refuse it: a whole decimal is bound as the integer it is there (the column's index still
 * serves), any other is said to be NUMERIC unless the column is a decimal or a double.
 */
function decimalLiteral(d: Decimal, params: ParamList, columnType: SqlType | undefined): string {
  if (params.dialect.kind !== "postgres") return params.add(d, "decimal");
  const bits = columnType === "integer" ? 31n : columnType === "bigint" ? 63n : undefined;
  if (bits !== undefined && d.isInteger()) {
    const n = d.toBigInt();
    if (n >= -(2n ** bits) && n < 2n ** bits) return params.add(n, columnType as SqlType);
  }
  if (columnType === "decimal" || columnType === "double") return params.add(d, "decimal");
  return `CAST(${params.add(d, "decimal")} AS NUMERIC)`;
}

/**
 * A parameter's type, said with a cast where the database would otherwise guess: PostgreSQL and
 * DuckDB read a parameter with no column beside it (`SELECT $1`, `$1 + $2`) as text or refuse
 * it. Dates and timestamps travel as text, so they are always cast. MySQL types parameters by
 * their bound values.
 */
function typed(placeholder: string, type: SqlType, dialect: SqlDialect, inferred: boolean): string {
  if (dialect.kind === "mysql") return placeholder;
  if (type === "timestamp") return `CAST(${placeholder} AS TIMESTAMPTZ)`;
  if (type === "date") return `CAST(${placeholder} AS DATE)`;
  if (inferred) return placeholder;
  const name = sourceTypeName(type, dialect);
  return name ? `CAST(${placeholder} AS ${name})` : placeholder;
}

function sourceTypeName(type: SqlType, dialect: SqlDialect): string | undefined {
  switch (type) {
    case "integer":
      return "INTEGER";
    case "bigint":
      return "BIGINT";
    case "double":
      return "DOUBLE PRECISION";
    case "decimal":
      // DuckDB's bare DECIMAL keeps three places; an exact decimal is cast where it is added.
      return dialect.kind === "duckdb" ? "DOUBLE" : "NUMERIC";
    case "text":
      return "TEXT";
    default:
      return undefined;
  }
}

/**
 * A table column as a source expression. A blank-padded `char(n)` column is cast to text, so the
 * source compares, matches and groups it without its padding, exactly as the engine does with
 * the unpadded values it reads (PostgreSQL's `char(n)` LIKE would otherwise see the blanks) —
 * except where it is only compared with text that ends in no blank: PostgreSQL compares
 * `char(n)` without trailing blanks on both sides, so `o_orderstatus = 'F'` is the same test as
 * on the cast, and there the planner estimates it from the column's statistics (the cast made
 * TPC-H Q21's orders look like 441 rows instead of 73,000, and a nested loop of them).
 *
 * A PostgreSQL enum or money column is cast to text (an enum orders by its labels, and an
 * unknown label compared with it is an error; money compares by amount), and a column with a
 * collation of its own is compared in the C collation (code point order, exact equality), as the
 * engine compares text. Either keeps the source from using the column's index for those
 * comparisons, key lookups and joins within the source included.
 *
 * A uuid column reads as its canonical text (lower case, hyphenated), and in the source a text
 * value compared with it is read as a uuid: `'A0EEBC99-…'` and `'{a0eebc99…}'` match it there,
 * `'xyz'` is an error, and LIKE or a text function finds no operator. So it is named as stored
 * only where compared with canonical uuid text alone — the same test on the uuid as on its text,
 * in the same order — tested for NULL, or as a sort or group key (uuids order as their canonical
 * text does), and cast to text everywhere else.
 */
export function columnSql(
  dialect: SqlDialect,
  column: ColumnDef | undefined,
  use?: ColumnUse,
): string {
  const name = dialect.quoteIdentifier(column?.name ?? "");
  if (column?.singlePrecision) return floatSql(name, dialect, use);
  const asText = `CAST(${name} AS TEXT)`;
  const comparedWith = use === "key" ? undefined : use;
  switch (column?.textCompare) {
    case "cast":
      return asText;
    case "uuid":
      return uuidAsStored(use) ? name : asText;
    default: {
      const unpadded = !column?.blankPadded || comparedWith?.every(unblankedText);
      const text = unpadded ? name : asText;
      return column?.textCompare === "collate" ? `(${text} COLLATE "C")` : text;
    }
  }
}

/**
 * A 32-bit float column used as `use` says: as the number the engine reads for it
 * (`printedFloat`), or as stored where that answers alike — tested for NULL, or sorted or grouped
 * in PostgreSQL, whose shortest text is one to one with the floats and in their order (MySQL's
 * six digits are not: 1234.57 and 1234.5677 both print 1234.57), and wherever DuckDB is sent
 * it at all (`computesWithFloat`).
 */
function floatSql(name: string, dialect: SqlDialect, use: ColumnUse | undefined): string {
  const printed = printedFloat(name, dialect);
  if (printed === undefined || use?.length === 0) return name;
  return use === "key" && dialect.kind === "postgres" ? name : printed;
}

/**
 * A 32-bit float as the number the engine reads for it, which is what its source prints: a
 * source compares `real = 0.1` as the float 0.10000000149011612 (MariaDB and DuckDB find no
 * row), and PostgreSQL multiplies it in single precision. PostgreSQL prints the shortest text
 * that reads back as the float and MySQL six significant digits, as they send it. Undefined for
 * DuckDB, whose text is sometimes longer than the shortest the connector reads (`3196079.75`
 * for 3196079.8): nothing that computes with such a column goes there (`computesWithFloat`).
 */
export function printedFloat(name: string, dialect: SqlDialect): string | undefined {
  switch (dialect.kind) {
    case "postgres":
      return `CAST(CAST(${name} AS TEXT) AS DOUBLE PRECISION)`;
    case "mysql":
      return `CAST(CAST(${name} AS CHAR) AS DOUBLE)`;
    default:
      return undefined;
  }
}

/** A text value with no trailing blank: compared alike with a `char(n)` column and its text. */
function unblankedText(e: Expr): boolean {
  return e.k === "lit" && typeof e.v === "string" && !e.v.endsWith(" ");
}

/** Whether a uuid column used as `use` says compares alike as stored and as its text. */
export function uuidAsStored(use: ColumnUse | undefined): boolean {
  return use === "key" || (use?.every(canonicalUuidText) ?? false);
}

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A uuid as a uuid column reads: its canonical text, compared alike with the uuid itself. */
export function canonicalUuidText(e: Expr): boolean {
  return e.k === "lit" && typeof e.v === "string" && CANONICAL_UUID.test(e.v);
}

/** The table's name as its source knows it: `schema.name`, or its full path where it has one. */
export function qualifiedName(
  dialect: SqlDialect,
  table: Pick<CatalogTable, "schema" | "name" | "path">,
): string {
  const parts = table.path ?? [table.schema, table.name];
  return parts.map((p) => dialect.quoteIdentifier(p)).join(".");
}
