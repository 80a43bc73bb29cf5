/** The reply of `entente.sql`: partial objects that concatenate into one result. */
import type { SourceStats } from "./exec.ts";
import type { SqlType, Value } from "./types.ts";

export interface SqlColumn {
  name: string;
  type: SqlType;
}

export interface SqlStats {
  sources: Record<string, SourceStats>;
  ms: number;
}

/** One reply item: any of these, merged in order (rows concatenated). */
export interface SqlResultItem {
  columns?: SqlColumn[];
  rows?: Value[][];
  stats?: SqlStats;
  plan?: string;
  sources?: { source: string; sql: string; params: Value[] }[];
}

export interface SqlResult {
  columns: SqlColumn[];
  rows: Value[][];
  stats?: SqlStats;
  plan?: string;
  sources?: { source: string; sql: string; params: Value[] }[];
}

/** Merges reply items: the first `columns`, every `rows` in order, the last `stats`. */
export function collectSqlResult(items: Iterable<unknown>): SqlResult {
  const result: SqlResult = { columns: [], rows: [] };
  let haveColumns = false;
  for (const raw of items) {
    if (typeof raw !== "object" || raw === null) continue;
    const item = raw as SqlResultItem;
    if (item.columns && !haveColumns) {
      result.columns = item.columns;
      haveColumns = true;
    }
    if (item.rows) for (const r of item.rows) result.rows.push(r);
    if (item.stats) result.stats = item.stats;
    if (item.plan !== undefined) result.plan = item.plan;
    if (item.sources) result.sources = item.sources;
  }
  return result;
}
