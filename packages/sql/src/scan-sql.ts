/** The statements a scan sends: projected columns, pushed predicates, key filters, order and limit. */
import type { AggCall, Expr, ScanNode } from "./plan.ts";
import { ParamList, qualifiedName, renderExpr } from "./render.ts";
import type { SourceInfo, SourceStatement, Value } from "./types.ts";

/** A filter the executor adds at run time: the build side's keys, as a list or a range. */
export type KeyFilter =
  | { column: number; values: Value[] }
  | { column: number; lo: Value; hi: Value };

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
  const col = (i: number) => d.quoteIdentifier(scan.columns[i]?.name ?? "");
  const fetched: number[] = [];
  scan.needed.forEach((n, i) => {
    if (n > 0) fetched.push(i);
  });
  const select = fetched.length > 0 ? fetched.map(col).join(", ") : "1";
  let sql = `SELECT ${select} FROM ${qualifiedName(d, scan.table.schema, scan.table.name)}`;
  const where = scan.pushed.map((p) => renderExpr(p, col, params));
  if (keyFilter) {
    if ("values" in keyFilter) {
      const type = scan.columns[keyFilter.column]?.type ?? "unknown";
      const list = keyFilter.values.map((v) => params.add(v, type)).join(", ");
      where.push(`${col(keyFilter.column)} IN (${list})`);
    } else {
      const type = scan.columns[keyFilter.column]?.type ?? "unknown";
      where.push(
        `${col(keyFilter.column)} BETWEEN ${params.add(keyFilter.lo, type)} AND ${params.add(keyFilter.hi, type)}`,
      );
    }
  }
  if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
  if (scan.orderBy && scan.orderBy.length > 0) {
    sql += ` ORDER BY ${scan.orderBy
      .map(
        (k) =>
          `${renderExpr(k.expr, col, params)}${k.desc ? " DESC" : " ASC"} NULLS ${k.nullsFirst ? "FIRST" : "LAST"}`,
      )
      .join(", ")}`;
  }
  if (scan.limit !== undefined) sql += ` LIMIT ${Math.trunc(scan.limit)}`;
  return { sql, params: params.values, fetched };
}

/** SELECT group columns, aggregates FROM table WHERE pushed predicates GROUP BY group columns. */
export function renderAggregate(
  scan: ScanNode,
  groups: Expr[],
  aggs: AggCall[],
  source: SourceInfo,
): SourceStatement {
  const d = source.dialect;
  const params = new ParamList(d);
  const col = (i: number) => d.quoteIdentifier(scan.columns[i]?.name ?? "");
  const groupSql = groups.map((g) => renderExpr(g, col, params));
  const aggSql = aggs.map((a) => {
    const arg = a.arg ? renderExpr(a.arg, col, params) : "*";
    return `${a.fn.toUpperCase()}(${a.distinct ? "DISTINCT " : ""}${arg})`;
  });
  const items = [...groupSql, ...aggSql];
  let sql = `SELECT ${items.length > 0 ? items.join(", ") : "1"} FROM ${qualifiedName(d, scan.table.schema, scan.table.name)}`;
  const where = scan.pushed.map((p) => renderExpr(p, col, params));
  if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
  if (groupSql.length > 0) sql += ` GROUP BY ${groupSql.join(", ")}`;
  return { sql, params: params.values };
}
