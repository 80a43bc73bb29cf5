/**
 * `entente.ingest.<instance>`: a batch (a list) of points for a query-federation instance.
 * Each point is checked on its own; the reply names every one left out and why.
 */
import { z } from "zod";

export const INGEST_LIMITS = {
  metricLength: 256,
  tags: 64,
  tagNameLength: 128,
  tagValueLength: 1024,
} as const;

/** One point's shape; the ingest endpoint checks timestamps and tag names beyond it. */
export const ingestPointSchema = z.strictObject({
  metric: z.string().min(1).max(INGEST_LIMITS.metricLength),
  tags: z
    .record(z.string(), z.string().max(INGEST_LIMITS.tagValueLength))
    .refine((tags) => Object.keys(tags).length <= INGEST_LIMITS.tags, {
      error: `at most ${INGEST_LIMITS.tags} tags`,
    })
    .optional(),
  timestamp: z.union([z.string(), z.number(), z.bigint()], {
    error: (issue) =>
      `${issue.input === undefined ? "required:" : "must be"} nanoseconds (a decimal string or an integer) or RFC 3339`,
  }),
  // A MessagePack 64-bit integer arrives as a bigint; the column is a double either way.
  value: z.union([z.number(), z.bigint().transform(Number)], {
    error: (issue) => `${issue.input === undefined ? "required:" : "must be"} a finite number`,
  }),
});
export type IngestPoint = z.input<typeof ingestPointSchema>;

export interface PointRejection {
  /** The point's position in its batch, from 0. */
  index: number;
  reason: string;
}

export interface IngestReply {
  /** Points now in the stream, to be stored. */
  accepted: number;
  /** The refused points, in batch order (the first ones, when many were refused). */
  rejected: PointRejection[];
  rejectedCount: number;
  /** Where the accepted points are: absent when none were accepted. */
  stream?: string;
  seq?: number;
  /** The publisher's message id was seen before: the batch is stored once. */
  duplicate?: true;
}

/**
 * One instance's ingest in one worker, in query federation's `$SRV.STATS` (`ingest`, by
 * instance): what its endpoint took in and what its store wrote.
 */
export interface IngestFigures {
  /** Points this worker validated into the stream. */
  accepted: number;
  /** Points this worker refused; each was named, with its reason, in the publisher's reply. */
  rejected: number;
  /** Batches stored, and the rows they wrote. */
  applied: number;
  points: number;
  /** Batches met again (a replay overlapping what is stored) and left alone. */
  skipped: number;
  /** Store writes that failed, each retry counted. */
  writeFailures: number;
  /** Batches left to the dead-letter stream (put there, or found there on a replay). */
  deadLettered: number;
  lastDeadLetter?: { sequence: number; reason: string };
  /** The highest stream sequence the store is done with (stored or dead-lettered). */
  watermark: number;
}
