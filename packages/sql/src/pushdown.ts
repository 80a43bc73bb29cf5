/**
 * What a source may run, decided from its declared capabilities. A predicate is pushed only when
 * the source computes exactly what the engine would: text comparisons depend on the collation,
 * LIKE on its case rules, and division on the dialect.
 */
import type { AggCall, Expr, ScanNode } from "./plan.ts";
import { exprChildren } from "./plan-walk.ts";
import { printedFloat } from "./render.ts";
import type { ColumnDef, SourceInfo, SqlType } from "./types.ts";

const ORDERED = new Set(["<", "<=", ">", ">="]);
const PUSHABLE_FUNCTIONS = new Set(["coalesce", "abs"]);

function isText(t: SqlType): boolean {
  return t === "text";
}

/** Whether `expr` (over one source's columns) can be evaluated by the source with equal results. */
export function canPush(expr: Expr, source: SourceInfo): boolean {
  const caps = source.capabilities;
  if (!caps.filters) return false;
  // A source with an exact collation is sent text comparisons in it (see render.ts).
  const exact = source.dialect.exactTextCollation !== undefined;
  const textEq = exact || caps.textComparison !== "case-insensitive";
  const textOrder = exact || caps.textComparison === "binary";
  const walk = (e: Expr): boolean => {
    switch (e.k) {
      case "col":
        return e.type !== "json" && e.type !== "unknown" && e.type !== "blob";
      case "lit":
        return e.type !== "json" && e.type !== "unknown" && e.type !== "blob";
      case "cmp": {
        const text = isText(e.l.type) || isText(e.r.type);
        if (text && !(ORDERED.has(e.op) ? textOrder : textEq)) return false;
        return walk(e.l) && walk(e.r);
      }
      case "in":
        if (isText(e.e.type) && !textEq) return false;
        return walk(e.e) && e.list.every(walk);
      case "between":
        if (isText(e.e.type) && !textOrder) return false;
        return walk(e.e) && walk(e.lo) && walk(e.hi);
      case "like":
        return (caps.like || exact) && !e.ci && textEq && walk(e.e) && walk(e.pattern);
      case "and":
      case "or":
        return e.args.every(walk);
      case "not":
      case "isnull":
        return walk(e.e);
      case "neg":
        return walk(e.e);
      case "case":
        return isPushableCase(e, source) && exprChildren(e).every(walk);
      case "arith":
        if (e.type === "decimal" && caps.decimalsAsDoubles) return false;
        // Integer division and modulo differ between dialects; PostgreSQL's match the engine's.
        if ((e.op === "/" || e.op === "%") && source.dialect.kind !== "postgres") return false;
        return e.type !== "text" && walk(e.l) && walk(e.r);
      case "fn":
        if (e.name === "extract") return isPushableExtract(e.args);
        if (e.name === "substring" || e.name === "substr")
          return (
            source.dialect.kind !== "mysql" &&
            hasPushablePositions(e.args) &&
            walk(e.args[0] as Expr)
          );
        // A decimal's scale is its own in PostgreSQL: COALESCE(int, decimal(10,2)) gives `2`, where
        // MySQL and DuckDB give the result type's `2.00`.
        if (e.name === "coalesce" && source.dialect.kind !== "postgres" && mixesDecimals(e.args))
          return false;
        return PUSHABLE_FUNCTIONS.has(e.name) && e.args.every(walk);
      default:
        return false;
    }
  };
  return walk(expr);
}

/** The types a CASE is sent with: each database reads these alike from its branches. */
const CASE_TYPES = new Set<SqlType>(["integer", "bigint", "decimal", "text", "date"]);

/**
 * Whether a source's CASE answers as the engine's does, apart from its parts (which must each be
 * pushable too):
 * - every result is of the CASE's own type (an integer of a bigint one) or NULL, since databases
 *   unify other mixed branches each their own way (MySQL gives `1` and `0.5` one scale, `1.0`);
 * - the result is no boolean (MySQL's are integers), no timestamp (read in the session's time
 *   zone), no double (a `real` column's value would be widened to double precision in a CASE,
 *   where the engine reads it as written) and a decimal only in PostgreSQL, where each value
 *   keeps its own scale as here;
 * - a text operand (`CASE x WHEN 'a'`) only where the source compares text as the engine does;
 * - no part is an operation on constants alone: PostgreSQL folds those while planning, also in
 *   a branch no row takes, so `CASE WHEN x > 0 THEN 1 ELSE 1 / 0 END` fails there and not here.
 */
function isPushableCase(e: Extract<Expr, { k: "case" }>, source: SourceInfo): boolean {
  if (!CASE_TYPES.has(e.type)) return false;
  if (e.type === "decimal" && source.dialect.kind !== "postgres") return false;
  const results = [...e.whens.map(([, r]) => r), ...(e.else ? [e.else] : [])];
  const alike = (r: Expr) =>
    r.type === e.type ||
    (r.type === "integer" && e.type === "bigint") ||
    (r.k === "lit" && r.v === null);
  if (!results.every(alike)) return false;
  if (e.operand?.type === "text" && source.capabilities.textComparison === "case-insensitive")
    return false;
  return !exprChildren(e).some(foldsConstants);
}

/** Whether `e` holds an operation (not a lone literal) that reads no column. */
function foldsConstants(e: Expr): boolean {
  if (e.k === "lit" || e.k === "col") return false;
  const parts = exprChildren(e);
  return !parts.some(readsColumn) || parts.some(foldsConstants);
}

function readsColumn(e: Expr): boolean {
  return e.k === "col" || exprChildren(e).some(readsColumn);
}

/** Whether decimals meet values of another type among `args`. */
function mixesDecimals(args: Expr[]): boolean {
  const types = new Set(args.map((a) => a.type).filter((t) => t !== "null"));
  return types.has("decimal") && types.size > 1;
}

/**
 * EXTRACT of the calendar fields every dialect reads alike, from a date (a timestamp's fields
 * would depend on the source session's time zone).
 */
const PUSHABLE_FIELDS = new Set(["year", "quarter", "month", "day"]);

function isPushableExtract([field, x]: Expr[]): boolean {
  return (
    field?.k === "lit" &&
    PUSHABLE_FIELDS.has(String(field.v)) &&
    x?.type === "date" &&
    (x.k === "col" || x.k === "lit")
  );
}

/**
 * substring(s, from[, count]) with constant positions from the first character on, which
 * PostgreSQL and DuckDB count alike (in characters, as the engine does); before it they differ
 * — PostgreSQL counts the positions before the string against `count`. (MySQL compares the
 * result's text without regard to case, so it is not sent there.)
 */
function hasPushablePositions([, from, count]: Expr[]): boolean {
  const position = (x: Expr | undefined, least: number) =>
    x?.k === "lit" && typeof x.v === "number" && Number.isInteger(x.v) && x.v >= least;
  return position(from, 1) && (count === undefined || position(count, 0));
}

/**
 * Whether `expr` computes with a 32-bit float column of `columns` at a source that cannot name it
 * as the number the engine reads (`printedFloat`, DuckDB): a NULL test of such a column answers
 * there as the engine does, and so does the column alone as a sort or group key or in MIN, MAX
 * or a count, which callers that place those keep from asking.
 */
export function computesWithFloat(
  expr: Expr,
  columns: readonly ColumnDef[],
  source: SourceInfo,
): boolean {
  if (printedFloat("f", source.dialect) !== undefined) return false;
  const computes = (e: Expr): boolean => {
    if (e.k === "isnull" && e.e.k === "col") return false;
    if (e.k === "col") return columns[e.i]?.singlePrecision === true;
    return exprChildren(e).some(computes);
  };
  return computes(expr);
}

/**
 * Whether `expr` holds a condition (a comparison, IN, BETWEEN, LIKE or CASE) over a 32-bit float
 * column of `columns`: where a value is computed with the float as stored (an UPDATE's SET value
 * in MySQL or DuckDB), such a condition would test the float, not the number the engine reads.
 */
export function testsFloat(expr: Expr, columns: readonly ColumnDef[]): boolean {
  const readsFloat = (e: Expr): boolean =>
    e.k === "col" ? columns[e.i]?.singlePrecision === true : exprChildren(e).some(readsFloat);
  const CONDITIONS = new Set<Expr["k"]>(["cmp", "in", "between", "like", "case"]);
  const tests = (e: Expr): boolean =>
    (CONDITIONS.has(e.k) && readsFloat(e)) || exprChildren(e).some(tests);
  return tests(expr);
}

/** Whether a join key of this type can be sent to the source as an IN list or a range. */
export function canPushKeys(type: SqlType, source: SourceInfo): boolean {
  if (!source.capabilities.filters) return false;
  if (type === "text") return source.capabilities.textComparison !== "case-insensitive";
  return type === "integer" || type === "bigint" || type === "date" || type === "boolean";
}

/**
 * A scan's `column IN (subquery)` predicate whose keys can go to the source: subqueries run before
 * the statement, so their keys are known when the scan starts and can prune it there, as a join's
 * dynamic filter does (TPC-H Q18's `o_orderkey IN (SELECT l_orderkey … HAVING …)`).
 */
export function semiJoinFilter(
  scan: ScanNode,
  source: SourceInfo,
): { column: number; sub: number } | undefined {
  for (const p of scan.local) {
    if (p.k !== "inSub" || p.not || p.keys.length !== 1) continue;
    const key = p.keys[0] as Expr;
    if (key.k === "col" && canPushKeys(key.type, source)) return { column: key.i, sub: p.sub };
  }
  return undefined;
}

/** Whether the source may sort by these keys with the engine's order (NULL placement, collation). */
export function canPushOrder(types: SqlType[], source: SourceInfo): boolean {
  const caps = source.capabilities;
  if (!caps.limit || !caps.orderByNullsOrdering) return false;
  return types.every(
    (t) => (t !== "text" || caps.textComparison === "binary") && t !== "json" && t !== "unknown",
  );
}

/** Whether the source may group by `key` with the engine's notion of equal values. */
export function canPushGroupKey(key: Expr, source: SourceInfo): boolean {
  // A constant key would be written bare, which PostgreSQL refuses (or reads as a position).
  if (key.k === "lit") return false;
  if (key.type === "text" && source.capabilities.textComparison === "case-insensitive")
    return false;
  return canPush(key, source);
}

/** Whether the source groups by GROUPING SETS and has GROUPING(): PostgreSQL and DuckDB. */
export function canPushGroupingSets(source: SourceInfo): boolean {
  return source.capabilities.aggregates && source.dialect.kind !== "mysql";
}

/** Whether the source computes the aggregate exactly as the engine does. */
export function canPushAggregate(a: AggCall, source: SourceInfo): boolean {
  const caps = source.capabilities;
  if (!caps.aggregates || (a.distinct && !caps.countDistinct)) return false;
  if (a.fn === "grouping") return canPushGroupingSets(source);
  if (!a.arg) return true;
  const t = a.arg.type;
  if (t === "json" || t === "blob" || t === "unknown" || !canPush(a.arg, source)) return false;
  // PostgreSQL has no min or max of boolean.
  if ((a.fn === "min" || a.fn === "max") && t === "boolean") return false;
  if (t === "text") {
    if ((a.fn === "min" || a.fn === "max") && caps.textComparison !== "binary") return false;
    if (a.distinct && caps.textComparison === "case-insensitive") return false;
  }
  // Engine sums of floating values are doubles in arrival order; sources agree only on exact types.
  if ((a.fn === "sum" || a.fn === "avg") && t === "double") return false;
  if ((a.fn === "sum" || a.fn === "avg") && t === "decimal" && caps.decimalsAsDoubles) return false;
  // An average is a numeric quotient at PostgreSQL's scale: MySQL's AVG cuts it to
  // div_precision_increment (4) places, DuckDB's is a double.
  if (a.fn === "avg" && source.dialect.kind !== "postgres") return false;
  return true;
}
