/**
 * The service's configuration sections: `tables` and `sqlJoin` (its sources are the worker's
 * `sources:`, read through @entente/connectors).
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

/** A physical table: `source.schema.table` or `source.table`. */
export const tableRefSchema = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+){1,2}$/, 'a table is "source.schema.table" or "source.table"');

/**
 * A short name's table: `"source.schema.table"`, or `{ table, id }` for a table whose `id`
 * column holds 64-bit region-owned ids (read by id on `entente.data.get`); `writable: true`
 * lets `entente.data.put` write it too.
 */
export const tableEntrySchema = z.union([
  tableRefSchema,
  z.strictObject({
    table: tableRefSchema,
    id: z.string().min(1, "id names the table's id column"),
    writable: z.boolean().optional(),
  }),
]);

export const tablesConfigSchema = z.record(z.string().min(1), tableEntrySchema);

export type TableEntry = z.output<typeof tableEntrySchema>;
export type TablesConfig = Record<string, TableEntry>;

/** The short names and the tables they stand for, as the catalog resolves them. */
export function tableAliases(tables: TablesConfig | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tables ?? {}).map(([name, entry]) => [
      name,
      typeof entry === "string" ? entry : entry.table,
    ]),
  );
}

export const sqlJoinConfigSchema = z
  .object({
    /** Most rows one statement's operators (build sides, subqueries, groups, sorts) hold at once. */
    maxBuildRows: z.number().int().positive().default(2_000_000),
    /** About this many heap bytes at most for what one statement's operators hold. */
    maxBuildBytes: z
      .number()
      .int()
      .positive()
      .default(512 * 1024 * 1024),
    /** Distinct build keys sent to the probe side as IN lists; above this, a range. */
    dynamicFilterMaxKeys: z.number().int().positive().default(100_000),
    /** Keys per IN-list statement. */
    inListChunk: z.number().int().positive().default(5_000),
    /** IN-list statements in flight at once per scan. */
    parallelChunks: z.number().int().positive().max(64).default(4),
    /** Rows per reply item. */
    batchRows: z.number().int().positive().max(100_000).default(5_000),
    /** Results up to this many rows are answered as one item… */
    singleReplyRows: z.number().int().nonnegative().default(10_000),
    /**
     * … when they are ready within this long; a statement still working then answers its
     * columns first, so its caller can cancel it.
     */
    singleReplyWaitMs: z.number().int().nonnegative().default(1_000),
    /** How often the catalog is read again from the sources. */
    catalogRefreshMs: z.number().int().positive().default(60_000),
    /** Rows per batch read from a source. */
    sourceBatchRows: z.number().int().positive().default(10_000),
    /** Threads that parse statements, so parsing never holds the event loop. */
    parseThreads: z.number().int().positive().max(16).default(2),
    /** Longest one statement may take to parse before it is refused with TOO_LARGE. */
    parseTimeoutMs: z.number().int().positive().default(5_000),
    /**
     * Most syntax nodes (names, literals, operators, calls, clauses) in one statement: receiving
     * the tree from its thread, binding and planning run on the event loop, ≤ ~40 ms at 5,000.
     */
    maxSqlNodes: z.number().int().positive().default(5_000),
    /**
     * Whether sources run filters, joins, aggregates and limits, or only hand over columns for
     * the engine to do the rest. A request's `pushdown` overrides it.
     */
    pushdown: z.boolean().default(true),
    /**
     * Where joins, ORDER BY, GROUP BY, DISTINCT, INTERSECT/EXCEPT and window functions write what
     * would take a statement over its memory limit (the system's temporary directory by default)…
     */
    spillDir: z.string().min(1).default(join(tmpdir(), "entente-spill")),
    /** … and how many bytes one statement may write there; 0: no spilling, TOO_LARGE instead. */
    maxSpillBytes: z
      .number()
      .int()
      .nonnegative()
      .default(4 * 1024 * 1024 * 1024),
    /** Views: a name for a SELECT, used in FROM like a table (`{ big_orders: "SELECT …" }`). */
    views: z.record(z.string().min(1), z.string().min(1)).default({}),
  })
  .strict()
  // An absent section parses as {}, so the defaults above are the only ones.
  .prefault({});

export type SqlJoinSettings = z.output<typeof sqlJoinConfigSchema>;

export const tablesSectionSchema = tablesConfigSchema.optional();

/** The owner side of `entente.data.put`: its writes and the change stream they are published to. */
export const dataChangesConfigSchema = z
  .object({
    /** How long the change stream keeps a change; a replica whose feed fell further behind is dropped. */
    maxAgeMs: z
      .number()
      .int()
      .positive()
      .default(24 * 60 * 60 * 1000),
    /** Most bytes the change stream holds (the oldest changes go first). */
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024),
    /** Most bytes of one `entente.data.put` request's rows, as MessagePack. */
    maxPutBytes: z
      .number()
      .int()
      .positive()
      .default(4 * 1024 * 1024),
  })
  .strict()
  .prefault({});

export type DataChangesSettings = z.output<typeof dataChangesConfigSchema>;

/**
 * The reading side: remote rows read often are kept as replicas in this region. Off by default:
 * a replica may be up to `maxStalenessMs` behind its owner.
 */
export const dataReplicationConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Reads of one remote id within `windowMs` that make it a replica. */
    readsToReplicate: z.number().int().positive().default(3),
    windowMs: z.number().int().positive().default(60_000),
    /** The oldest a replica may be when served: older, the read goes to the owner. */
    maxStalenessMs: z.number().int().min(300).default(5_000),
    /** Bytes of replicas this region keeps; past it, the least valuable go first. */
    budgetBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Changes asked per feed request. */
    feedBatch: z.number().int().positive().max(1_000).default(500),
    /** Most remote ids waiting to become replicas at once. */
    maxPending: z.number().int().positive().default(10_000),
  })
  .strict()
  .prefault({});

export type DataReplicationSettings = z.output<typeof dataReplicationConfigSchema>;
