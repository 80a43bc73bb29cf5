/**
 * `entente.sql`: one SQL statement across the configured sources, or a transaction. A read is
 * one message answered by one item or a stream of items that concatenate into one result. A
 * write (INSERT, UPDATE, DELETE on a source the configuration lets it write) answers its
 * affected rows; `statements` runs a list as one transaction; `session` continues an
 * interactive transaction opened with `BEGIN`.
 */
import { z } from "zod";

/** One statement of a transaction sent whole. */
export const sqlStatementSchema = z
  .object({
    sql: z.string().min(1, "sql must not be empty").max(1_000_000),
    params: z.array(z.unknown()).max(65_535).optional(),
  })
  .strict();

export type SqlStatement = z.output<typeof sqlStatementSchema>;

/** At most this many statements in one `statements` transaction. */
export const MAX_TRANSACTION_STATEMENTS = 10_000;

/** An idempotency key: printable, short enough to be a primary key in every database. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

export const sqlRequestSchema = z
  .object({
    sql: z.string().min(1, "sql must not be empty").max(1_000_000).optional(),
    params: z.array(z.unknown()).max(65_535).optional(),
    /** Statements run in order as one transaction: all of them take effect, or none. */
    statements: z.array(sqlStatementSchema).min(1).max(MAX_TRANSACTION_STATEMENTS).optional(),
    /** The interactive transaction (from `BEGIN`'s reply) this statement belongs to. */
    session: z.string().min(1).max(200).optional(),
    /**
     * The write is applied at most once per key: a repeat answers `alreadyApplied` and changes
     * nothing. Recorded in each written source within the write's own transaction.
     */
    idempotencyKey: z
      .string()
      .regex(IDEMPOTENCY_KEY, "idempotencyKey is 1 to 200 printable ASCII characters, no spaces")
      .optional(),
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
  .refine((r) => r.sql !== undefined || r.tierFor !== undefined || r.statements !== undefined, {
    message: "sql is required",
    path: ["sql"],
  })
  .refine((r) => r.sql === undefined || r.statements === undefined, {
    message: "send sql or statements, not both",
    path: ["statements"],
  })
  .refine((r) => r.session === undefined || r.statements === undefined, {
    message: "a session runs one statement per request; send sql",
    path: ["statements"],
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
  /** The materialized result that answered instead of the sources (`entente.tiers` materialize). */
  materialized?: string;
}

/** A statement sent to a source, as EXPLAIN shows it. */
export interface SqlSourceStatement {
  source: string;
  sql: string;
  params: unknown[];
}

/** How a transaction ended, as its reply reports it. */
export interface SqlTransactionOutcome {
  /** The transaction's id; with two-phase commit, the id it was prepared under at the sources. */
  id: string;
  outcome: "committed" | "rolled back";
  /** The sources it wrote or read in a transaction, in the order they joined. */
  participants: string[];
  /** Whether it committed with two-phase commit (more than one source wrote). */
  twoPhase: boolean;
}

/** An interactive transaction, as `BEGIN` opens it. */
export interface SqlSessionInfo {
  id: string;
  /** Idle longer than this and it is rolled back. */
  idleTimeoutMs: number;
}

/** What one statement of a transaction did. */
export interface SqlStatementResult {
  affectedRows?: number;
  columns?: SqlColumn[];
  rows?: unknown[][];
}

/** One reply item: any of these, merged in order (rows concatenated). */
export interface SqlResultItem {
  columns?: SqlColumn[];
  rows?: unknown[][];
  stats?: SqlStats;
  plan?: string;
  sources?: SqlSourceStatement[];
  /** Rows a write inserted, updated or deleted. */
  affectedRows?: number;
  /** The write's idempotency key had been used: nothing was changed. */
  alreadyApplied?: boolean;
  /** Each statement's result, for a `statements` transaction. */
  results?: SqlStatementResult[];
  transaction?: SqlTransactionOutcome;
  session?: SqlSessionInfo;
}

export interface SqlResult {
  columns: SqlColumn[];
  rows: unknown[][];
  stats?: SqlStats;
  plan?: string;
  sources?: SqlSourceStatement[];
  affectedRows?: number;
  alreadyApplied?: boolean;
  results?: SqlStatementResult[];
  transaction?: SqlTransactionOutcome;
  session?: SqlSessionInfo;
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
    if (item.affectedRows !== undefined) result.affectedRows = item.affectedRows;
    if (item.alreadyApplied !== undefined) result.alreadyApplied = item.alreadyApplied;
    if (item.results) result.results = item.results;
    if (item.transaction) result.transaction = item.transaction;
    if (item.session) result.session = item.session;
  }
  return result;
}
