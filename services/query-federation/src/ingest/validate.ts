/**
 * What a point must be for a store to hold it, checked before it enters the stream. Every limit
 * here stands for something the DuckDB table or a later query would refuse: a timestamp past
 * the BIGINT column, a value JSON cannot carry, a string DuckDB's JSON reader rejects (lone
 * UTF-16 surrogates), a tag a query could not name. Pure.
 */
import {
  EntenteError,
  INGEST_LIMITS,
  INSTANCE_TAG,
  ingestPointSchema,
  jsonCodec,
  msgpackCodec,
  type PointRejection,
  parseMessage,
  TAG_NAME,
} from "@entente/protocol";
import { z } from "zod";
import { nowNs, parseTimestamp } from "../duration.ts";
import type { Point } from "../points.ts";

/** The time column is a signed 64-bit integer of nanoseconds. */
const LATEST_NS = 2n ** 63n - 1n;

export interface ValidatedBatch {
  points: Point[];
  /** One bad point does not cost the batch its good ones: each is named with its reason. */
  rejected: PointRejection[];
}

/**
 * A decoded batch → its valid points and the reason for each other one. A batch that is not a
 * list of at most `maxPoints` items is a BAD_REQUEST naming the problem.
 */
export function validateBatch(
  decoded: unknown,
  maxPoints: number,
  now: bigint = nowNs(),
): ValidatedBatch {
  const list = parseMessage(
    z.array(z.unknown()).max(maxPoints, `a batch holds at most ${maxPoints} points`),
    decoded,
    "ingest batch",
  );
  const batch: ValidatedBatch = { points: [], rejected: [] };
  list.forEach((item, index) => {
    const checked = checkPoint(item, now);
    if (typeof checked === "string") batch.rejected.push({ index, reason: checked });
    else batch.points.push(checked);
  });
  return batch;
}

/** One point, or why a store could not hold it. */
export function checkPoint(item: unknown, now: bigint): Point | string {
  const parsed = ingestPointSchema.safeParse(item);
  if (!parsed.success) {
    return parsed.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "point"}: ${issue.message}`)
      .join("; ");
  }
  const p = parsed.data;
  const tags = p.tags ?? {};
  const problem =
    stringProblem("metric", p.metric) ??
    Object.entries(tags)
      .map(([name, value]) => tagProblem(name) ?? stringProblem(`tags.${name}`, value))
      .find((found) => found !== undefined) ??
    timestampProblem(p.timestamp, now);
  if (problem) return problem;
  return {
    metric: p.metric,
    tags,
    timestamp: parseTimestamp(p.timestamp, now) as bigint,
    value: p.value,
  };
}

/** Tags a query could not name, or that would pose as an instance, are refused. */
function tagProblem(name: string): string | undefined {
  if (name === INSTANCE_TAG) return `tags: ${INSTANCE_TAG} names the instance; it is not stored`;
  if (name.length > INGEST_LIMITS.tagNameLength || !TAG_NAME.test(name)) {
    return `tags: malformed tag name ${JSON.stringify(name.slice(0, 40))}: use letters, digits, '_', '.', ':' and '-', starting with a letter or '_', at most ${INGEST_LIMITS.tagNameLength} characters`;
  }
  return undefined;
}

/** A lone UTF-16 surrogate is not text: it cannot be written as UTF-8, so no store takes it. */
function stringProblem(field: string, value: string): string | undefined {
  return value.isWellFormed() ? undefined : `${field}: not well-formed Unicode (a lone surrogate)`;
}

function timestampProblem(raw: string | number | bigint, now: bigint): string | undefined {
  const shown = JSON.stringify(String(raw).slice(0, 64));
  if (typeof raw === "number" && Number.isInteger(raw) && !Number.isSafeInteger(raw)) {
    return `timestamp: ${shown} is past the integers a JSON number holds exactly; send nanoseconds as a decimal string`;
  }
  const ns = parseTimestamp(raw, now);
  if (ns === undefined) return `timestamp: ${shown} is not nanoseconds or RFC 3339`;
  if (ns < 0n) return `timestamp: ${shown} is before 1970-01-01T00:00:00Z`;
  if (ns > LATEST_NS) {
    return `timestamp: ${shown} is past 2262-04-11T23:47:16.854775807Z, the latest a 64-bit nanosecond timestamp holds`;
  }
  return undefined;
}

/**
 * Batches read back from the stream: each was validated before it went in, so any point that
 * fails now (one published around the validating endpoint) makes the whole batch unreadable.
 */
export function readStoredBatch(
  data: Uint8Array,
  contentType: string | undefined,
  maxPoints: number,
): Point[] {
  const json = contentType?.toLowerCase().includes("json") ?? looksLikeJson(data);
  const batch = validateBatch((json ? jsonCodec : msgpackCodec).decode(data), maxPoints);
  if (batch.rejected.length > 0) {
    const shown = batch.rejected
      .slice(0, 3)
      .map((r) => `point ${r.index}: ${r.reason}`)
      .join("; ");
    const more = batch.rejected.length > 3 ? ` (and ${batch.rejected.length - 3} more)` : "";
    throw new EntenteError("BAD_REQUEST", `invalid ingest batch: ${shown}${more}`);
  }
  return batch.points;
}

/** Validated points as the stream keeps them: MessagePack, timestamps as resolved integers. */
export function encodeStoredBatch(points: Point[]): Uint8Array {
  return msgpackCodec.encode(
    points.map((p) => ({ metric: p.metric, tags: p.tags, timestamp: p.timestamp, value: p.value })),
  );
}

/** Batches published before validation moved in front of the stream may be untyped JSON. */
function looksLikeJson(data: Uint8Array): boolean {
  for (const byte of data) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x5b || byte === 0x7b; // '[' or '{': never the first byte of a MessagePack array
  }
  return false;
}
