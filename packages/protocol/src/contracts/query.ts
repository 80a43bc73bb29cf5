/**
 * `entente.query` (a federated metric query), `<subject>.federate` (unmerged partials or raw
 * points, asked by a federation above) and `<subject>.stats` (per-instance figures).
 */
import { z } from "zod";

/** The internal subject next to a federation's query subject, for federations above it. */
export function federateSubject(querySubject: string): string {
  return `${querySubject}.federate`;
}

/** Per-instance queries, errors, latency and circuit state of a federation. */
export function queryStatsSubject(querySubject: string): string {
  return `${querySubject}.stats`;
}

export const AGGREGATION_FUNCTIONS = [
  "sum",
  "avg",
  "min",
  "max",
  "count",
  "first",
  "last",
  "stddev",
  "rate",
] as const;
export type AggregationFunction = (typeof AGGREGATION_FUNCTIONS)[number];

export const MATCH_OPS = ["=", "!=", "=~", "!~"] as const;
export type MatchOp = (typeof MATCH_OPS)[number];

/** The tag that names an instance: selects instances in a query, labels raw points. */
export const INSTANCE_TAG = "__instance__";

/** The tag names a query can filter and group by (and that SQL may carry as literals). */
export const TAG_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

/** What a query does when some instances fail: answer with the rest, or fail as a whole. */
export const PARTIAL_POLICIES = ["allow", "deny"] as const;
export type PartialPolicy = (typeof PARTIAL_POLICIES)[number];

const timestampInput = z.union([z.string(), z.number(), z.bigint()]);
const tagValueInput = z.union([
  z.string(),
  z.array(z.string()).min(1),
  z.record(z.string(), z.string()),
]);

/** The query as it arrives on `entente.query` (JSON or MessagePack), before normalization. */
export const queryRequestSchema = z.strictObject({
  metric: z.string().min(1, "metric must not be empty").max(256),
  start: timestampInput.optional(),
  end: timestampInput.optional(),
  tags: z.record(z.string(), tagValueInput).optional(),
  aggregation: z
    .strictObject({
      function: z.string(),
      window: z.union([z.string(), z.number(), z.bigint()]).optional(),
      by: z.union([z.string(), z.array(z.string())]).optional(),
    })
    .optional(),
  limit: z.number().optional(),
  /** The query's budget; the earlier of it and the `entente-timeout-ms` header counts. */
  timeoutMs: z.number().optional(),
  partial: z.enum(PARTIAL_POLICIES).optional(),
});
export type QueryRequest = z.input<typeof queryRequestSchema>;

/** Which instances answered, when not all of them did. */
export interface PartialInfo {
  succeeded: number;
  total: number;
  errors: Array<{ instance: string; code: string; message: string }>;
}

/** A point of an answer; `value` is null for a window with no value (JSON has no NaN). */
export interface AnswerPoint {
  metric: string;
  tags: Record<string, string>;
  /** Nanoseconds since the epoch: an integer in MessagePack, a decimal string in JSON. */
  timestamp: bigint | string;
  value: number | null;
}

/**
 * The reply to `entente.query`: `{ points, partial? }`. A large answer streams as several items
 * of this shape, `partial` on the first; `joinAnswerItems` puts them back together.
 */
export interface AnswerItem {
  points: AnswerPoint[];
  partial?: PartialInfo;
}

/** Joins the items of a (possibly batched) reply back into one answer. */
export function joinAnswerItems(items: Iterable<unknown>): AnswerItem {
  const joined: AnswerItem = { points: [] };
  for (const item of items) {
    const { points, partial } = item as Partial<AnswerItem>;
    if (points) for (const p of points) joined.points.push(p);
    if (partial && !joined.partial) joined.partial = partial;
  }
  return joined;
}

/** The request on `<subject>.federate`: a normalized query that asks for partials or raw points. */
export const federateRequestSchema = z.strictObject({
  want: z.enum(["raw", "partials"]),
  metric: z.string().min(1),
  start: z.string().regex(/^\d+$/),
  end: z.string().regex(/^\d+$/),
  matchers: z.array(z.tuple([z.string(), z.enum(MATCH_OPS), z.string()])),
  aggregation: z
    .strictObject({
      fn: z.enum(AGGREGATION_FUNCTIONS),
      window: z.string().regex(/^\d+$/),
      by: z.array(z.string()),
    })
    .optional(),
  limit: z.number().int().positive().optional(),
  timeoutMs: z.number().positive().optional(),
});
export type FederateRequest = z.output<typeof federateRequestSchema>;

type FederateSample = [bigint, number] | null;
type FederateSeries = [string, bigint, number, bigint, number, number];

/**
 * A partial aggregate on `<subject>.federate`, compact: window, group values, count, sum, min,
 * max, M2, first, last and the per-series increases `rate` merges.
 */
export type FederatePartialAggregate = [
  bigint,
  string[],
  number,
  number,
  number,
  number,
  number,
  FederateSample,
  FederateSample,
  FederateSeries[] | null,
];

/** A raw point on `<subject>.federate`: tags, timestamp, value. */
export type FederatePoint = [Record<string, string>, bigint, number];

/** Reply items of `<subject>.federate`, `partial` on the first. */
export type FederateReplyItem =
  | { partials: FederatePartialAggregate[]; partial?: PartialInfo }
  | { points: FederatePoint[]; partial?: PartialInfo };
