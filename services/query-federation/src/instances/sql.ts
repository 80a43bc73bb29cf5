/**
 * SQL for a points table, per dialect, with bound parameters: the raw read and the pushed-down
 * partial aggregation (count, sum, min, max, M2, and first/last through RANK()
 * window functions) per window and group. Tag names are validated identifiers and written as
 * literals; tag values, the metric and regex patterns are always bound. Pure.
 */
import type { SourceKind, SqlDialect } from "@entente/connectors";
import type { FederatedQuery, Matcher } from "../query.ts";
import { pushedRegex } from "./regex-pushdown.ts";

export interface ColumnMapping {
  metric: string;
  /** A JSON (or JSON text) column holding the tag map. */
  tags: string;
  time: string;
  value: string;
  /** `ns`: integer nanoseconds since the epoch; `timestamp`: a timestamp column. */
  timeFormat: "ns" | "timestamp";
}

export const DEFAULT_COLUMNS: ColumnMapping = {
  metric: "metric",
  tags: "tags",
  time: "time",
  value: "value",
  timeFormat: "ns",
};

export interface Statement {
  sql: string;
  params: unknown[];
}

/** Which part of the query the SQL carries; the rest is applied to the rows it returns. */
export interface PushdownPlan {
  pushed: Matcher[];
  local: Matcher[];
}

/** Splits the matchers into those `kind`'s SQL carries and those the worker applies. */
export function planPushdown(kind: SourceKind, matchers: Matcher[]): PushdownPlan {
  const pushed: Matcher[] = [];
  const local: Matcher[] = [];
  for (const m of matchers) {
    if (m.op === "=" || m.op === "!=" || pushedRegex(kind, m.value) !== undefined) pushed.push(m);
    else local.push(m);
  }
  return { pushed, local };
}

class Params {
  readonly values: unknown[] = [];
  private readonly dialect: SqlDialect;
  constructor(dialect: SqlDialect) {
    this.dialect = dialect;
  }
  bind(value: unknown): string {
    this.values.push(value);
    return this.dialect.placeholder(this.values.length);
  }
}

function stringLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The tag's value as text, "" when missing; compared byte-wise in every dialect. */
function tagExpr(dialect: SqlDialect, tagsColumn: string, tag: string): string {
  const column = dialect.quoteIdentifier(tagsColumn);
  switch (dialect.kind) {
    case "postgres":
      return `COALESCE((${column})::json ->> ${stringLiteral(tag)}, '')`;
    case "duckdb":
      return `COALESCE(json_extract_string(${column}, ${stringLiteral(`$."${tag}"`)}), '')`;
    case "mysql":
      return `CONVERT(COALESCE(JSON_UNQUOTE(JSON_EXTRACT(${column}, ${stringLiteral(`$."${tag}"`)})), '') USING utf8mb4) COLLATE utf8mb4_bin`;
  }
}

/** The time column as integer nanoseconds. */
function timeExpr(dialect: SqlDialect, columns: ColumnMapping): string {
  const column = dialect.quoteIdentifier(columns.time);
  if (columns.timeFormat === "ns") return column;
  switch (dialect.kind) {
    case "postgres":
      return `(CAST(EXTRACT(EPOCH FROM ${column}) * 1000000 AS BIGINT) * 1000)`;
    case "duckdb":
      return `epoch_ns(${column})`;
    case "mysql":
      return `(CAST(UNIX_TIMESTAMP(${column}) * 1000000 AS SIGNED) * 1000)`;
  }
}

function valueExpr(dialect: SqlDialect, columns: ColumnMapping): string {
  const column = dialect.quoteIdentifier(columns.value);
  return dialect.kind === "mysql"
    ? `CAST(${column} AS DOUBLE)`
    : `CAST(${column} AS DOUBLE PRECISION)`;
}

function matcherSql(
  dialect: SqlDialect,
  columns: ColumnMapping,
  m: Matcher,
  params: Params,
): string {
  const tag = tagExpr(dialect, columns.tags, m.tag);
  if (m.op === "=") return `${tag} = ${params.bind(m.value)}`;
  if (m.op === "!=") return `${tag} <> ${params.bind(m.value)}`;
  const pattern = pushedRegex(dialect.kind, m.value);
  if (pattern === undefined) throw new Error(`${dialect.kind} cannot run ${m.value} exactly`);
  const negate = m.op === "!~";
  switch (dialect.kind) {
    case "postgres":
      return `${tag} ${negate ? "!~" : "~"} ${params.bind(pattern)}`;
    case "duckdb":
      return `${negate ? "NOT " : ""}regexp_full_match(${tag}, ${params.bind(pattern)})`;
    case "mysql":
      return `${tag} ${negate ? "NOT REGEXP" : "REGEXP"} ${params.bind(pattern)}`;
  }
}

function whereClause(
  dialect: SqlDialect,
  columns: ColumnMapping,
  query: FederatedQuery,
  pushed: Matcher[],
  params: Params,
): string {
  const time = timeExpr(dialect, columns);
  const metric = dialect.quoteIdentifier(columns.metric);
  const conditions = [
    `${metric} = ${params.bind(query.metric)}`,
    `${time} >= ${query.start}`,
    `${time} < ${query.end}`,
    // A row without a value is not a sample: COUNT(*) and RANK() would otherwise see it.
    `${dialect.quoteIdentifier(columns.value)} IS NOT NULL`,
  ];
  if (dialect.kind === "mysql") {
    // The index serves the first comparison; this one makes it case- and accent-exact.
    conditions.push(
      `CONVERT(${metric} USING utf8mb4) COLLATE utf8mb4_bin = ${params.bind(query.metric)}`,
    );
  }
  for (const m of pushed) conditions.push(matcherSql(dialect, columns, m, params));
  return conditions.join(" AND ");
}

/** A timestamp in milliseconds, as a double (PromQL's resolution, and no 64-bit integers). */
function millisExpr(dialect: SqlDialect, columns: ColumnMapping): string {
  const time = timeExpr(dialect, columns);
  switch (dialect.kind) {
    case "postgres":
      return `CAST(${time} / 1000000 AS DOUBLE PRECISION)`;
    case "duckdb":
      return `CAST(${time} // 1000000 AS DOUBLE)`;
    case "mysql":
      return `CAST(${time} DIV 1000000 AS DOUBLE)`;
  }
}

/**
 * The samples of each series in turn (series by tag text, then time), times in milliseconds.
 * A series' tags come on its first row only: rows are then numbers, and a series' tags travel
 * and are parsed once rather than once per sample.
 */
export function seriesStatement(
  dialect: SqlDialect,
  table: string,
  columns: ColumnMapping,
  query: FederatedQuery,
  pushed: Matcher[],
): Statement {
  const params = new Params(dialect);
  const sql =
    "SELECT CASE WHEN n = 1 THEN t END, ms, v FROM (" +
    `SELECT t, ts, ms, v, ROW_NUMBER() OVER (PARTITION BY t ORDER BY ts) AS n FROM (` +
    `SELECT ${tagsTextExpr(dialect, columns)} AS t, ${timeExpr(dialect, columns)} AS ts,` +
    ` ${millisExpr(dialect, columns)} AS ms, ${valueExpr(dialect, columns)} AS v` +
    ` FROM ${qualified(dialect, table)}` +
    ` WHERE ${whereClause(dialect, columns, query, pushed, params)}) s) r` +
    // The row numbered 1 comes first even among samples at one time: it carries the tags.
    " ORDER BY t, ts, n";
  return { sql, params: params.values };
}

/** The distinct tag sets of the query's samples: which series it reads, without reading them. */
export function tagSetsStatement(
  dialect: SqlDialect,
  table: string,
  columns: ColumnMapping,
  query: FederatedQuery,
  pushed: Matcher[],
): Statement {
  const params = new Params(dialect);
  const sql =
    `SELECT DISTINCT ${tagsTextExpr(dialect, columns)} FROM ${qualified(dialect, table)}` +
    ` WHERE ${whereClause(dialect, columns, query, pushed, params)}`;
  return { sql, params: params.values };
}

/** The tags column as text, so that equal tag sets compare (and sort) equal. */
function tagsTextExpr(dialect: SqlDialect, columns: ColumnMapping): string {
  const column = dialect.quoteIdentifier(columns.tags);
  return dialect.kind === "mysql"
    ? `CAST(${column} AS CHAR)`
    : `CAST(${column} AS ${dialect.kind === "postgres" ? "TEXT" : "VARCHAR"})`;
}

/** Raw points in time order; at most `maxRows`. */
export function rawStatement(
  dialect: SqlDialect,
  table: string,
  columns: ColumnMapping,
  query: FederatedQuery,
  pushed: Matcher[],
  maxRows: number,
): Statement {
  const params = new Params(dialect);
  // Tags as text: a series' tags are then parsed once, not once per row.
  const tagsText = tagsTextExpr(dialect, columns);
  const sql =
    `SELECT ${tagsText} AS tags, ${timeExpr(dialect, columns)} AS ts, ${valueExpr(dialect, columns)} AS v` +
    ` FROM ${qualified(dialect, table)}` +
    ` WHERE ${whereClause(dialect, columns, query, pushed, params)}` +
    ` ORDER BY ts LIMIT ${Math.max(1, Math.floor(maxRows))}`;
  return { sql, params: params.values };
}

/**
 * Partials per window and group. Columns: window, one per `by` tag, count, sum, min, max,
 * M2, and with `ends` also first ts, first value, last ts, last value.
 */
export function partialsStatement(
  dialect: SqlDialect,
  table: string,
  columns: ColumnMapping,
  query: FederatedQuery,
  pushed: Matcher[],
  maxGroups: number,
): Statement {
  const aggregation = query.aggregation;
  if (!aggregation) throw new Error("partialsStatement needs an aggregation");
  const params = new Params(dialect);
  const ends = aggregation.fn === "first" || aggregation.fn === "last";
  const time = timeExpr(dialect, columns);
  const windowExpr = `(${time} - (${time} % ${aggregation.windowNs}))`;
  const groupExprs = aggregation.by.map((tag) => tagExpr(dialect, columns.tags, tag));
  const partition = [windowExpr, ...groupExprs].join(", ");
  const inner = [
    `${windowExpr} AS w`,
    ...groupExprs.map((expr, i) => `${expr} AS g${i}`),
    `${time} AS ts`,
    `${valueExpr(dialect, columns)} AS v`,
    ...(ends
      ? [
          `RANK() OVER (PARTITION BY ${partition} ORDER BY ${time} ASC) AS rf`,
          `RANK() OVER (PARTITION BY ${partition} ORDER BY ${time} DESC) AS rl`,
        ]
      : []),
  ];
  const groupColumns = ["w", ...aggregation.by.map((_, i) => `g${i}`)];
  const outer = [
    ...groupColumns,
    "COUNT(*) AS n",
    "SUM(v) AS s",
    "MIN(v) AS mn",
    "MAX(v) AS mx",
    // M2 from the database's own (Welford-style) variance: SUM(v * v) would lose the spread.
    "VAR_POP(v) * COUNT(*) AS m2",
    ...(ends
      ? [
          "MIN(ts) AS fts",
          "MIN(CASE WHEN rf = 1 THEN v END) AS fv",
          "MAX(ts) AS lts",
          "MAX(CASE WHEN rl = 1 THEN v END) AS lv",
        ]
      : []),
  ];
  const where = whereClause(dialect, columns, query, pushed, params);
  const sql =
    `SELECT ${outer.join(", ")} FROM (SELECT ${inner.join(", ")} FROM ${qualified(dialect, table)} WHERE ${where}) x` +
    ` GROUP BY ${groupColumns.join(", ")} LIMIT ${Math.max(1, Math.floor(maxGroups))}`;
  return { sql, params: params.values };
}

/** `schema.table` or `table`, each part quoted. */
export function qualified(dialect: SqlDialect, table: string): string {
  return table
    .split(".")
    .map((part) => dialect.quoteIdentifier(part))
    .join(".");
}

/** The metric names a points table holds (for PromQL selectors that match names by pattern). */
export function metricNamesStatement(
  dialect: SqlDialect,
  table: string,
  columns: ColumnMapping,
): Statement {
  const metric = dialect.quoteIdentifier(columns.metric);
  return {
    sql: `SELECT DISTINCT ${metric} FROM ${qualified(dialect, table)} ORDER BY ${metric}`,
    params: [],
  };
}
