/** The statements a scan sends: projected columns, pushed predicates, key filters, order and limit. */
import type { ColumnBounds, ScanBounds } from "@entente/connectors";
import { Decimal } from "./decimal.ts";
import { factsAbout } from "./logical.ts";
import type { AggCall, Expr, ScanNode } from "./plan.ts";
import {
  type ColumnText,
  canonicalUuidText,
  columnSql,
  groupByList,
  groupingSetsList,
  ParamList,
  qualifiedName,
  renderExpr,
  renderKey,
} from "./render.ts";
import type { SourceInfo, SourceStatement, SqlDialect, SqlType, Value } from "./types.ts";
import { compareValues } from "./values.ts";

/**
 * A filter the executor adds at run time: the build side's keys, as a list or a range — or, for
 * PostgreSQL, as one array (`column = ANY($1::integer[])`).
 */
export type KeyFilter =
  | { column: number; values: Value[] }
  | { column: number; lo: Value; hi: Value }
  | { column: number; array: Value[] };

export interface KeyFilterLimits {
  /** Up to this many keys go as IN lists; above, one range. */
  dynamicFilterMaxKeys: number;
  /** Keys per IN list. */
  inListChunk: number;
}

/**
 * The build side's keys as filters on the probe column: sorted IN-list chunks within the source's
 * parameter limit, or one range when there are many. Keys the column cannot hold (a bigint past an
 * integer column's range, a fraction) match nothing and are left out, since the source would
 * refuse them. A range is used only where the source orders the type as the engine does.
 *
 * `oneStatement`: the filtered statement runs whole once per filter (a join its source runs), so
 * keys past one list go to PostgreSQL as one array, up to `dynamicFilterMaxKeys`, and elsewhere
 * as their range. A range of keys spread over a table reads nearly all of it: TPC-H Q9 at SF 1
 * sent the range of 10,866 green parts' keys and read 6 million lineitem rows for 326,000.
 */
export function keyFilters(
  column: number,
  type: SqlType,
  keys: readonly Value[],
  source: SourceInfo,
  limits: KeyFilterLimits,
  paramsInUse: number,
  oneStatement = false,
): KeyFilter[] {
  const fitting = fittingKeys(type, keys);
  if (fitting.length === 0) return [];
  const manyKeys = fitting.length > limits.inListChunk;
  if (oneStatement && manyKeys && fitting.length <= limits.dynamicFilterMaxKeys) {
    const asArray = source.dialect.kind === "postgres" && type !== "text" && KEY_ARRAY_TYPES[type];
    if (asArray) return [{ column, array: fitting }];
  }
  const rangeOrders = type !== "text" || source.capabilities.textComparison === "binary";
  const range = fitting.length > limits.dynamicFilterMaxKeys || (oneStatement && manyKeys);
  if (range && rangeOrders) {
    let lo = fitting[0];
    let hi = fitting[0];
    for (const k of fitting) {
      if (compareValues(k, lo) < 0) lo = k;
      if (compareValues(k, hi) > 0) hi = k;
    }
    return [{ column, lo, hi }];
  }
  const chunk = Math.max(
    1,
    Math.min(limits.inListChunk, source.capabilities.maxParams - paramsInUse),
  );
  const out: KeyFilter[] = [];
  for (let i = 0; i < fitting.length; i += chunk)
    out.push({ column, values: fitting.slice(i, i + chunk) });
  return out;
}

/** The keys a column of `type` can hold, as its own values, sorted and each once. */
export function fittingKeys(type: SqlType, keys: readonly Value[]): Value[] {
  const sorted = keys
    .map((k) => asKeyOf(k, type))
    .filter((k) => keyFits(k, type))
    .sort(compareValues);
  return sorted.filter((k, i) => i === 0 || compareValues(k, sorted[i - 1] as Value) !== 0);
}

const INT32 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;

/** A whole decimal key (`5.00`) as the integer it equals, for an integer column's list. */
function asKeyOf(v: Value, type: SqlType): Value {
  if (!(v instanceof Decimal) || (type !== "integer" && type !== "bigint") || !v.isInteger())
    return v;
  const n = v.toBigInt();
  return type === "integer" ? Number(n) : n;
}

function keyFits(v: Value, type: SqlType): boolean {
  switch (type) {
    case "integer":
    case "bigint": {
      const [lo, hi] = type === "integer" ? INT32 : INT64;
      if (typeof v === "number") return Number.isInteger(v) && v >= Number(lo) && v <= Number(hi);
      return typeof v === "bigint" && v >= lo && v <= hi;
    }
    case "text":
    case "date":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    default:
      return true;
  }
}

export interface ScanStatement extends SourceStatement {
  /** Table column index of each selected column, in order. */
  fetched: number[];
}

export function renderScan(
  scan: ScanNode,
  source: SourceInfo,
  keyFilter?: KeyFilter,
): ScanStatement {
  const d = source.dialect;
  const params = new ParamList(d);
  const col: ColumnText = (i, use) => columnSql(d, scan.table.columns[i], use);
  const fetched: number[] = [];
  scan.needed.forEach((n, i) => {
    if (n > 0) fetched.push(i);
  });
  // Fetched as stored: the connector reads a padded column without its padding.
  const name = (i: number) => d.quoteIdentifier(scan.columns[i]?.name ?? "");
  const select = fetched.length > 0 ? fetched.map(name).join(", ") : "1";
  let sql = `SELECT ${select} FROM ${qualifiedName(d, scan.table)}`;
  const where = scan.pushed.map((p) => renderExpr(p, col, params));
  if (keyFilter) {
    const type = scan.columns[keyFilter.column]?.type ?? "unknown";
    const keys = keysOf(keyFilter).map((v): Expr => ({ k: "lit", v, type }));
    where.push(keyFilterSql(col(keyFilter.column, keys), type, keyFilter, params));
  }
  if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
  if (scan.orderBy && scan.orderBy.length > 0) {
    sql += ` ORDER BY ${scan.orderBy
      .map(
        (k) =>
          `${renderKey(k.expr, col, params)}${k.desc ? " DESC" : " ASC"} NULLS ${k.nullsFirst ? "FIRST" : "LAST"}`,
      )
      .join(", ")}`;
  }
  if (scan.limit !== undefined) sql += ` LIMIT ${Math.trunc(scan.limit)}`;
  return { ...params.statement(sql), scan: scanBounds(scan, keyFilter), fetched };
}

/**
 * A finished statement (a join its source runs) narrowed to a join's keys: its rows wrapped in
 * `WHERE column IN (…)` or `BETWEEN`, which PostgreSQL, MariaDB and DuckDB all move into the
 * scan of the table the column comes from.
 */
export function renderKeyFiltered(
  statement: SourceStatement,
  column: string,
  type: SqlType,
  keyFilter: KeyFilter,
  source: SourceInfo,
): SourceStatement {
  const d = source.dialect;
  const params = new ParamList(d);
  const q = d.quoteIdentifier("k");
  const named = `${q}.${d.quoteIdentifier(column)}`;
  // A text column there may be a uuid as stored, which reads other text as a uuid (see
  // `columnSql`): keys that are not canonical uuids are compared with its text.
  const keys = keysOf(keyFilter).map((v): Expr => ({ k: "lit", v, type }));
  const asText = type === "text" && d.kind !== "mysql" && !keys.every(canonicalUuidText);
  const filter = keyFilterSql(asText ? `CAST(${named} AS TEXT)` : named, type, keyFilter, params);
  return params.statement(
    `SELECT * FROM (${statement.sql}) ${q} WHERE ${filter}`,
    statement.params,
  );
}

/** PostgreSQL's array types of the key types `canPushKeys` allows. */
const KEY_ARRAY_TYPES: Partial<Record<SqlType, string>> = {
  integer: "integer[]",
  bigint: "bigint[]",
  text: "text[]",
  date: "date[]",
  boolean: "boolean[]",
};

/**
 * The keys among `keys` that `column` of `rows`' result holds, each once, asked of PostgreSQL
 * as `SELECT k.c FROM unnest($n::type[]) k(c) WHERE EXISTS (SELECT 1 FROM (rows) t WHERE t.c =
 * k.c)`: one array parameter however many keys, and a semi-join its planner answers by index
 * probes or by hashing, whichever it finds cheaper. (TPC-H Q22's key set: 4,194 customers'
 * orders found by index in about 7 ms, where `SELECT DISTINCT … WHERE c IN (…)` read all 150,000
 * orders in about 25.) Undefined for another dialect or type, or for no key the column holds.
 */
export function renderKeysPresent(
  rows: SourceStatement,
  column: string,
  type: SqlType,
  keys: readonly Value[],
  dialect: SqlDialect,
): SourceStatement | undefined {
  const arrayType = KEY_ARRAY_TYPES[type];
  const fitting = fittingKeys(type, keys);
  if (dialect.kind !== "postgres" || !arrayType || fitting.length === 0) return undefined;
  const params = new ParamList(dialect);
  const array = arrayParam(fitting, params);
  const [k, t, c] = ["k", "t", column].map((name) => dialect.quoteIdentifier(name));
  // The engine's text may be a uuid, enum or money column there, compared as its text here.
  const held = type === "text" ? `CAST(${t}.${c} AS TEXT)` : `${t}.${c}`;
  // PostgreSQL numbers its placeholders: the array's may come before the statement's in the text.
  return params.statement(
    `SELECT ${k}.${c} AS ${c} FROM unnest(CAST(${array} AS ${arrayType})) AS ${k}(${c}) ` +
      `WHERE EXISTS (SELECT 1 FROM (${rows.sql}) ${t} WHERE ${held} = ${k}.${c})`,
    rows.params,
  );
}

/** Values as one parameter, PostgreSQL's array text. */
function arrayParam(values: readonly Value[], params: ParamList): string {
  return params.add(`{${values.map(arrayElement).join(",")}}`, "text");
}

/** A value in PostgreSQL's array text: text always quoted, so `NULL` or `a,b` stay text. */
function arrayElement(v: Value): string {
  if (typeof v === "boolean") return v ? "t" : "f";
  if (typeof v === "string") return `"${v.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
  return String(v);
}

/** The keys a filter names: its list, its array, or its range's ends. */
function keysOf(keyFilter: KeyFilter): Value[] {
  if ("values" in keyFilter) return keyFilter.values;
  if ("array" in keyFilter) return keyFilter.array;
  return [keyFilter.lo, keyFilter.hi];
}

/** A key filter on the column `col` names: `col IN (…)`, `col BETWEEN lo AND hi` or `= ANY`. */
function keyFilterSql(col: string, type: SqlType, keyFilter: KeyFilter, params: ParamList): string {
  if ("array" in keyFilter)
    return `${col} = ANY(CAST(${arrayParam(keyFilter.array, params)} AS ${KEY_ARRAY_TYPES[type]}))`;
  if ("values" in keyFilter)
    return `${col} IN (${keyFilter.values.map((v) => params.add(v, type)).join(", ")})`;
  return `${col} BETWEEN ${params.add(keyFilter.lo, type)} AND ${params.add(keyFilter.hi, type)}`;
}

/**
 * What the pushed predicates and the key filter allow each column to hold, for sources that can
 * skip whole files by partition values or min/max before reading them.
 */
export function scanBounds(scan: ScanNode, keyFilter?: KeyFilter): ScanBounds {
  const bounds: Record<string, ColumnBounds> = {};
  scan.columns.forEach((column, i) => {
    const facts: ColumnBounds = factsAbout(scan.pushed, i);
    if (keyFilter?.column === i) {
      if (!("lo" in keyFilter)) {
        const keys = keysOf(keyFilter);
        facts.values = facts.values
          ? facts.values.filter((v) => keys.some((k) => compareValues(v, k) === 0))
          : keys;
      } else {
        if (!facts.lo || compareValues(keyFilter.lo, facts.lo.v) > 0) {
          facts.lo = { v: keyFilter.lo, inclusive: true };
        }
        if (!facts.hi || compareValues(keyFilter.hi, facts.hi.v) < 0) {
          facts.hi = { v: keyFilter.hi, inclusive: true };
        }
      }
    }
    if (facts.values || facts.lo || facts.hi) bounds[column.name] = sourceBounds(facts);
  });
  return { table: scan.table.path ?? [scan.table.schema, scan.table.name], bounds };
}

/**
 * Bounds in the connectors' normal form: a decimal as the double a cold store compares it with,
 * its bound made inclusive, since the nearest double may lie on the other side of it.
 */
function sourceBounds(facts: ColumnBounds): ColumnBounds {
  const plain = (v: Value) => (v instanceof Decimal ? v.toNumber() : v);
  const bound = (b: { v: Value; inclusive: boolean }) =>
    b.v instanceof Decimal ? { v: b.v.toNumber(), inclusive: true } : b;
  return {
    ...facts,
    ...(facts.values ? { values: facts.values.map(plain) } : {}),
    ...(facts.lo ? { lo: bound(facts.lo) } : {}),
    ...(facts.hi ? { hi: bound(facts.hi) } : {}),
  };
}

/** SELECT group columns, aggregates FROM table WHERE pushed predicates GROUP BY group columns. */
export function renderAggregate(
  scan: ScanNode,
  groups: Expr[],
  aggs: AggCall[],
  source: SourceInfo,
  sets?: number[][],
): SourceStatement | undefined {
  const d = source.dialect;
  const params = new ParamList(d);
  const col: ColumnText = (i, use) => columnSql(d, scan.table.columns[i], use);
  const groupSql = groups.map((g) => renderKey(g, col, params));
  const aggSql = aggs.map((a) => aggregateSql(a, groupSql, (x) => renderExpr(x, col, params)));
  const groupBy = sets ? groupingSetsList(groupSql, sets) : groupByList(groupSql);
  if (groupBy === undefined) return undefined;
  const items = [...groupSql, ...aggSql];
  let sql = `SELECT ${items.length > 0 ? items.join(", ") : "1"} FROM ${qualifiedName(d, scan.table)}`;
  const where = scan.pushed.map((p) => renderExpr(p, col, params));
  if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
  if (groupSql.length > 0 || sets) sql += ` GROUP BY ${groupBy}`;
  return { ...params.statement(sql), scan: scanBounds(scan) };
}

/** An aggregate call as SQL; GROUPING's arguments are the groups' own text. */
export function aggregateSql(a: AggCall, groupSql: string[], render: (e: Expr) => string): string {
  if (a.fn === "grouping")
    return `GROUPING(${(a.groupingArgs ?? []).map((i) => groupSql[i]).join(", ")})`;
  const arg = a.arg ? render(a.arg) : "*";
  return `${a.fn.toUpperCase()}(${a.distinct ? "DISTINCT " : ""}${arg})`;
}
