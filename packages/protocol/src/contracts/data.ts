/**
 * Data by region-owned id. `entente.data.get`: rows of a table read by their 64-bit ids; the ids
 * owned by this region are read from its sources, the others from replicas held here or asked
 * of their owner regions, one request per region, and the answers put back in the caller's
 * order. `entente.data.put`: rows written to the regions that own their ids. `entente.data.changes`:
 * an owner region's feed of the changes written through `put`, read by sequence.
 */
import { z } from "zod";
import { idSchema } from "../ids.ts";

/** Most ids one request may ask for. */
export const MAX_DATA_GET_IDS = 10_000;

export const dataGetRequestSchema = z.strictObject({
  /** A short name of the `tables:` section that declares an `id` column. */
  table: z.string().min(1, "table must not be empty").max(256),
  /** 64-bit ids as decimal strings or integers; an id out of range is refused by its index. */
  ids: z.array(idSchema).max(MAX_DATA_GET_IDS),
  /** The columns to answer with (default: all of the table's). */
  columns: z.array(z.string().min(1).max(256)).min(1).max(1_000).optional(),
});
export type DataGetRequest = z.input<typeof dataGetRequestSchema>;
export type DataGetParsedRequest = z.output<typeof dataGetRequestSchema>;

/** A region that did not answer for its ids. */
export interface DataGetRegionError {
  region: number;
  code: string;
  message: string;
}

/** Which regions answered, when not all of them did (the shape of query federation's). */
export interface DataGetPartialInfo {
  succeeded: number;
  total: number;
  errors: DataGetRegionError[];
}

/**
 * Who read how many of the distinct ids asked: this region's source (`local`), a replica held
 * in this region (`replica`), or the owner region (`owner`). One region may appear twice, once
 * for its ids served from replicas and once for those asked of it.
 */
export interface DataGetServed {
  region: number;
  ids: number;
  from: "local" | "replica" | "owner";
}

export interface DataGetReply {
  columns: string[];
  /** One per requested id, in the request's order; null when the id has no row or no answer. */
  rows: Array<unknown[] | null>;
  /** Ids (decimal strings) whose region answered without a row for them. */
  missing: string[];
  /** Ids (decimal strings) whose region did not answer: neither found nor missing. */
  unanswered: string[];
  served: DataGetServed[];
  partial?: DataGetPartialInfo;
}

/** Most rows one `entente.data.put` may write. */
export const MAX_DATA_PUT_ROWS = 1_000;

/** Most columns one written row may name. */
export const MAX_DATA_PUT_COLUMNS = 1_000;

export const dataPutRequestSchema = z.strictObject({
  /** A short name of the `tables:` section that declares an `id` column and `writable: true`. */
  table: z.string().min(1, "table must not be empty").max(256),
  /**
   * Rows as column → value, each naming the table's id column; a row is inserted, or updates
   * the row with its id (only the columns it names).
   */
  rows: z
    .array(
      z
        .record(z.string().min(1).max(256), z.unknown())
        .refine((row) => Object.keys(row).length <= MAX_DATA_PUT_COLUMNS, {
          message: `a row names at most ${MAX_DATA_PUT_COLUMNS} columns`,
        }),
    )
    .min(1, "rows must hold at least one row")
    .max(MAX_DATA_PUT_ROWS),
});
export type DataPutRequest = z.input<typeof dataPutRequestSchema>;
export type DataPutParsedRequest = z.output<typeof dataPutRequestSchema>;

/** What one owner region wrote. */
export interface DataPutWritten {
  region: number;
  /** Ids (decimal strings) written and published to the owner's change feed. */
  ids: string[];
  from: "local" | "owner";
}

export interface DataPutReply {
  written: DataPutWritten[];
  /** Ids (decimal strings) of the regions that failed: maybe written, maybe not (see `partial`). */
  unwritten: string[];
  partial?: DataGetPartialInfo;
}

/** Most changes one `entente.data.changes` reply carries. */
export const MAX_DATA_CHANGES = 1_000;

export const dataChangesRequestSchema = z.strictObject({
  /** The stream sequence of the last change already seen (0: from the start). */
  after: z.number().int().nonnegative(),
  limit: z.number().int().positive().max(MAX_DATA_CHANGES).default(500),
});
export type DataChangesRequest = z.input<typeof dataChangesRequestSchema>;
export type DataChangesParsedRequest = z.output<typeof dataChangesRequestSchema>;

/** One row written through `entente.data.put`, as its owner published it. */
export interface DataChange {
  /** Its sequence in the owner's change stream. */
  seq: number;
  table: string;
  /** The id, a decimal string. */
  id: string;
  /** The row's columns after the write, and their values. */
  columns: string[];
  row: unknown[];
  /** When the owner committed it (ms since the epoch). */
  at: number;
}

export interface DataChangesReply {
  changes: DataChange[];
  /**
   * The oldest sequence the stream still holds (when it holds none, the next one it will use, or
   * 0 for a stream never written). When `first` is beyond `after + 1`, or `head` below `after`,
   * changes after `after` are gone (the stream's limits dropped them, or it was made anew).
   */
  first: number;
  /** The stream's last sequence: the feed is read up to here when `changes` ends at it. */
  head: number;
}

/** A change feed reply checked before it is believed: another region may answer anything. */
export const dataChangesReplySchema = z.object({
  changes: z.array(
    z.object({
      seq: z.number().int().positive(),
      table: z.string().min(1),
      id: idSchema,
      columns: z.array(z.string()),
      row: z.array(z.unknown()),
      at: z.number(),
    }),
  ),
  first: z.number().int().nonnegative(),
  head: z.number().int().nonnegative(),
});
