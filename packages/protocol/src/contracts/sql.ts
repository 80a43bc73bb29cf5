/**
 * `entente.sql`: one read-only SQL statement across the configured sources. The request is one
 * message; the reply is one item or a stream of items that concatenate into one result.
 */
import { z } from "zod";

export const sqlRequestSchema = z
  .object({
    sql: z.string().min(1, "sql must not be empty").max(1_000_000).optional(),
    params: z.array(z.unknown()).max(65_535).optional(),
    /** The statement's budget; the earlier of it and the `entente-timeout-ms` header counts. */
    timeoutMs: z.number().int().positive().optional(),
    explain: z.boolean().optional(),
    /** false: the sources only read columns and the engine runs every operator. */
    pushdown: z.boolean().optional(),
    /** Which tier (or shard) of a logical table serves this time (or key). */
    tierFor: z
      .object({ table: z.string().min(1), at: z.union([z.string(), z.number()]) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((r) => r.sql !== undefined || r.tierFor !== undefined, {
    message: "sql is required",
    path: ["sql"],
  });

export type SqlRequest = z.output<typeof sqlRequestSchema>;

/** The engine's column types, as a result names them. */
export type SqlType =
  | "boolean"
  | "integer"
  | "bigint"
  | "double"
  | "decimal"
  | "text"
  | "date"
  | "timestamp"
  | "json"
  | "blob"
  | "unknown"
  | "null";

export interface SqlColumn {
  name: string;
  type: SqlType;
}

/** What one source did for a statement. */
export interface SqlSourceStats {
  rows: number;
  bytes: number;
  ms: number;
  queries: number;
}

export interface SqlStats {
  sources: Record<string, SqlSourceStats>;
  ms: number;
}

/** A statement sent to a source, as EXPLAIN shows it. */
export interface SqlSourceStatement {
  source: string;
  sql: string;
  params: unknown[];
}

/** One reply item: any of these, merged in order (rows concatenated). */
export interface SqlResultItem {
  columns?: SqlColumn[];
  rows?: unknown[][];
  stats?: SqlStats;
  plan?: string;
  sources?: SqlSourceStatement[];
}

export interface SqlResult {
  columns: SqlColumn[];
  rows: unknown[][];
  stats?: SqlStats;
  plan?: string;
  sources?: SqlSourceStatement[];
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
