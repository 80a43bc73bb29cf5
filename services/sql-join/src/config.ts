/**
 * The service's configuration sections: `tables` and `sqlJoin` (its sources are the worker's
 * `sources:`, read through @entente/connectors).
 */
import { z } from "zod";

/** A physical table: `source.schema.table` or `source.table`. */
export const tableRefSchema = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+){1,2}$/, 'a table is "source.schema.table" or "source.table"');

/**
 * A short name's table: `"source.schema.table"`, or `{ table, id }` for a table whose `id`
 * column holds 64-bit region-owned ids (read by id on `entente.data.get`).
 */
export const tableEntrySchema = z.union([
  tableRefSchema,
  z.strictObject({
    table: tableRefSchema,
    id: z.string().min(1, "id names the table's id column"),
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
    /** Results up to this many rows are answered as one item. */
    singleReplyRows: z.number().int().nonnegative().default(10_000),
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
  })
  .strict()
  // An absent section parses as {}, so the defaults above are the only ones.
  .prefault({});

export type SqlJoinSettings = z.output<typeof sqlJoinConfigSchema>;

export const tablesSectionSchema = tablesConfigSchema.optional();
