/**
 * `entente.tiers`: the life of tiered tables and their cold store — moves from hot to cold,
 * cold-store maintenance, materialized results — and `entente.catalog`: every table the SQL
 * engine knows, with statistics per tier. Served by the sql-join workers.
 */
import { z } from "zod";
import type { SqlType } from "./sql.ts";

/** A logical table name, or a source-qualified table (`archive.main.events`). */
const tableNameSchema = z
  .string()
  .min(1, "table must not be empty")
  .max(512)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,3}$/, {
    message: "table must be a name or a dotted path of plain identifiers",
  });

export const partitionFieldSchema = z.discriminatedUnion("transform", [
  z.object({ column: z.string().min(1), transform: z.literal("day") }).strict(),
  z.object({ column: z.string().min(1), transform: z.literal("identity") }).strict(),
  z
    .object({
      column: z.string().min(1),
      transform: z.literal("bucket"),
      buckets: z.number().int().min(1).max(1024),
    })
    .strict(),
]);

export type PartitionFieldSpec = z.output<typeof partitionFieldSchema>;

const ttlMsSchema = z
  .number()
  .int()
  .positive()
  .max(366 * 86_400_000);

export const tiersRequestSchema = z.discriminatedUnion(
  "op",
  [
    /** Lifecycle state of one tiered table, or of all. */
    z.object({ op: z.literal("status"), table: tableNameSchema.optional() }).strict(),
    /** Starts a move now (or joins the one running); `wait` replies when it has finished. */
    z
      .object({ op: z.literal("move"), table: tableNameSchema, wait: z.boolean().optional() })
      .strict(),
    /** Merges small cold files into files of about `targetFileBytes` per partition. */
    z
      .object({
        op: z.literal("compact"),
        table: tableNameSchema,
        targetFileBytes: z
          .number()
          .int()
          .min(1024)
          .max(4 * 1024 ** 3)
          .optional(),
      })
      .strict(),
    /** Rewrites a cold table under a new partitioning. */
    z
      .object({
        op: z.literal("repartition"),
        table: tableNameSchema,
        partitionBy: z.array(partitionFieldSchema).min(1).max(4),
      })
      .strict(),
    /** Drops old snapshots and the files no remaining snapshot refers to. */
    z
      .object({
        op: z.literal("expireSnapshots"),
        table: tableNameSchema,
        olderThanMs: z.number().int().min(0).optional(),
        retainLast: z.number().int().min(1).max(10_000).optional(),
      })
      .strict(),
    /** Hot and cold retention of one tiered table, or of all. */
    z.object({ op: z.literal("retention"), table: tableNameSchema.optional() }).strict(),
    /** Stores a SELECT's result for `ttlMs`; identical statements are answered from it. */
    z
      .object({
        op: z.literal("materialize"),
        sql: z.string().min(1).max(1_000_000),
        params: z.array(z.unknown()).max(65_535).optional(),
        ttlMs: ttlMsSchema,
      })
      .strict(),
    /** Runs a materialized statement again and replaces its stored result. */
    z.object({ op: z.literal("refreshMaterialized"), id: z.string().min(1).max(128) }).strict(),
    /** The materialized results, fresh or expired. */
    z.object({ op: z.literal("materialized") }).strict(),
  ],
  {
    error:
      "op must be one of status, move, compact, repartition, expireSnapshots, retention, materialize, refreshMaterialized, materialized",
  },
);

export type TiersRequest = z.output<typeof tiersRequestSchema>;

/** Where a move stands. */
export type TierMoveState =
  | "planning"
  | "copying"
  | "verifying"
  | "committing"
  | "grace"
  | "deleting"
  | "expiring"
  | "done"
  | "failed";

export interface TierMoveProgress {
  id: string;
  state: TierMoveState;
  /** The watermark before the move and the one it commits (ISO text). */
  from: string | null;
  to: string;
  partitions: number;
  copied: number;
  verified: number;
  deleted: number;
  rows: number;
  startedAt: string;
  finishedAt?: string;
  error?: string;
}

/** A move that failed after its commit, taken up again with backoff. */
export interface TierResume {
  /** Times it was taken up again already. */
  resumes: number;
  /** When the next is due (ISO). */
  nextAt: string;
  error?: string;
}

export interface TierStatus {
  table: string;
  column: string;
  hot: string;
  cold: string;
  /** Hot rows are `column >= watermark`, cold rows below it; null before the first move. */
  watermark: string | null;
  hotRetention: string;
  coldRetention: string;
  running?: TierMoveProgress;
  last?: TierMoveProgress;
  nextRunAt?: string;
  /** Why the cold side cannot be read now (the watermark is then null). */
  error?: string;
  resume?: TierResume;
}

export interface TiersStatusReply {
  tables: TierStatus[];
}

export interface TiersMoveReply {
  table: string;
  move: TierMoveProgress;
}

export interface ColdMaintenanceReply {
  table: string;
  filesBefore: number;
  filesAfter: number;
  rows: number;
  snapshotId?: number;
}

export interface ExpireSnapshotsReply {
  table: string;
  expiredSnapshots: number;
  deletedFiles: number;
}

export interface RetentionReply {
  tables: Array<{
    table: string;
    hotRetention: string;
    coldRetention: string;
    watermark: string | null;
  }>;
}

export interface MaterializedInfo {
  id: string;
  sql: string;
  /** Where the result is kept: the cold store's table. */
  table: string;
  rows: number;
  createdAt: string;
  expiresAt: string;
  fresh: boolean;
}

export interface MaterializedListReply {
  materialized: MaterializedInfo[];
}

export const catalogRequestSchema = z.discriminatedUnion(
  "op",
  [
    /** Every table of every source, and every logical table, with its kind. */
    z.object({ op: z.literal("tables") }).strict(),
    /** Row count, columns and statistics of one table, per tier or shard. */
    z.object({ op: z.literal("tableStats"), table: tableNameSchema }).strict(),
  ],
  { error: "op must be one of tables, tableStats" },
);

export type CatalogRequest = z.output<typeof catalogRequestSchema>;

export type CatalogTableKind = "table" | "cold" | "sharded" | "tiered";

export interface CatalogColumn {
  name: string;
  type: SqlType;
}

export interface CatalogTableInfo {
  /** The name a statement uses: `source.schema.table`, or a logical table's bare name. */
  name: string;
  kind: CatalogTableKind;
  /** The source holding it (absent for logical tables). */
  source?: string;
  columns: CatalogColumn[];
  rowCount?: number;
}

export interface CatalogTablesReply {
  tables: CatalogTableInfo[];
}

export interface ColumnStats {
  name: string;
  type: SqlType;
  min?: unknown;
  max?: unknown;
  nulls?: number;
  distinct?: number;
}

export interface TablePartStats {
  /** `hot`, `cold`, or a shard's label. */
  label: string;
  table: string;
  source: string;
  rowCount?: number;
  /** Cold store tables: files, bytes and the current snapshot. */
  files?: number;
  bytes?: number;
  snapshotId?: number;
  columns: ColumnStats[];
}

export interface TableStatsReply {
  table: string;
  kind: CatalogTableKind;
  rowCount?: number;
  /** A cold-store table's files, their bytes and its current snapshot. */
  files?: number;
  bytes?: number;
  snapshotId?: number;
  columns: ColumnStats[];
  /** Per tier or shard, for logical tables. */
  parts?: TablePartStats[];
}
