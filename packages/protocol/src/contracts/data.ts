/**
 * `entente.data.get`: rows of a table read by their 64-bit region-owned ids. The ids owned by
 * this region are read from its sources; the others are asked of their owner regions, one
 * request per region, and the answers put back in the caller's order.
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

/** Who read how many of the distinct ids asked. */
export interface DataGetServed {
  region: number;
  ids: number;
  from: "local" | "owner";
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
