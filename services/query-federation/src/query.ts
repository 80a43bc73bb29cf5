/**
 * The query: validation of its wire form (`queryRequestSchema`) into a normalized form with exact nanosecond
 * times, compiled tag matchers and a window in nanoseconds. Pure: no I/O.
 */
import {
  AGGREGATION_FUNCTIONS,
  type AggregationFunction,
  EntenteError,
  INSTANCE_TAG,
  MATCH_OPS,
  type MatchOp,
  type PartialPolicy,
  parseMessage,
  type QueryRequest,
  queryRequestSchema,
  TAG_NAME,
} from "@entente/protocol";
import { nowNs, parseDuration, parseTimestamp } from "./duration.ts";
import { compileTagRegex, type TagRegex } from "./tag-regex.ts";

export interface Matcher {
  tag: string;
  op: MatchOp;
  value: string;
  /** For `=~` and `!~`: RE2, matching the whole value (as in PromQL). */
  regex?: TagRegex;
}

export interface Aggregation {
  fn: AggregationFunction;
  windowNs: bigint;
  by: string[];
}

/** A validated query. `start` is inclusive, `end` exclusive. */
export interface FederatedQuery {
  metric: string;
  start: bigint;
  end: bigint;
  matchers: Matcher[];
  /** Matchers on `__instance__`, kept apart: they select instances, not points. */
  instanceMatchers: Matcher[];
  aggregation?: Aggregation;
  limit?: number;
  timeoutMs?: number;
  partial: PartialPolicy;
}

export interface QueryLimits {
  /** Most points a query may return (raw points, or windows × groups). */
  maxPoints: number;
  /** Longest timeout a query may ask for. */
  maxTimeoutMs: number;
  /** Default range when `start` is absent: this long before `end`. */
  defaultRangeNs: bigint;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxPoints: 1_000_000,
  maxTimeoutMs: 300_000,
  defaultRangeNs: 3_600_000_000_000n,
};

function bad(message: string, details?: Record<string, unknown>): EntenteError {
  return new EntenteError("BAD_REQUEST", message, details ? { details } : {});
}

function matcherOf(tag: string, op: string, value: unknown): Matcher {
  if (!(MATCH_OPS as readonly string[]).includes(op)) {
    throw bad(
      `tags.${tag}: unknown matcher ${JSON.stringify(op)}: use one of ${MATCH_OPS.join(", ")}`,
    );
  }
  if (typeof value !== "string") {
    throw bad(`tags.${tag}: the value of ${op} must be a string`);
  }
  const matcher: Matcher = { tag, op: op as MatchOp, value };
  if (op === "=~" || op === "!~") matcher.regex = compileTagRegex(tag, value);
  return matcher;
}

/**
 * Escapes text for use in a regular expression outside a class: only syntax characters, so the
 * databases that take portable patterns can take the result too.
 */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Tag filters in their three JSON forms: `"v"`, `["a","b"]` (any of), `{"!=": "v"}`. */
export function parseMatchers(tags: Record<string, unknown> | undefined): Matcher[] {
  const matchers: Matcher[] = [];
  for (const [tag, value] of Object.entries(tags ?? {})) {
    checkTagName(tag, "tags");
    if (typeof value === "string") {
      matchers.push({ tag, op: "=", value });
    } else if (Array.isArray(value)) {
      if (value.some((v) => typeof v !== "string")) throw bad(`tags.${tag}: a list holds strings`);
      const pattern = (value as string[]).map(escapeRegex).join("|");
      matchers.push({ tag, op: "=~", value: pattern, regex: compileTagRegex(tag, pattern) });
    } else if (typeof value === "object" && value !== null) {
      const entries = Object.entries(value);
      if (entries.length === 0) throw bad(`tags.${tag}: an empty matcher object`);
      for (const [op, operand] of entries) matchers.push(matcherOf(tag, op, operand));
    } else {
      throw bad(`tags.${tag}: expected a string, a list of strings or {"<op>": "<value>"}`);
    }
  }
  return matchers;
}

/** `__instance__` matchers select instances; the others filter points. */
export function splitMatchers(
  all: Matcher[],
): Pick<FederatedQuery, "matchers" | "instanceMatchers"> {
  return {
    matchers: all.filter((m) => m.tag !== INSTANCE_TAG),
    instanceMatchers: all.filter((m) => m.tag === INSTANCE_TAG),
  };
}

/** A tag name goes into SQL as a literal: only plain names are accepted. */
export function checkTagName(tag: string, field: string): void {
  if (!TAG_NAME.test(tag)) {
    throw bad(
      `${field}: malformed tag name ${JSON.stringify(tag)}: use letters, digits, '_', '.', ':' and '-', starting with a letter or '_'`,
    );
  }
}

/** True when a tag value (missing counts as empty, as in PromQL) satisfies the matcher. */
export function matches(matcher: Matcher, value: string | undefined): boolean {
  const v = value ?? "";
  switch (matcher.op) {
    case "=":
      return v === matcher.value;
    case "!=":
      return v !== matcher.value;
    case "=~":
      return (matcher.regex as TagRegex).test(v);
    case "!~":
      return !(matcher.regex as TagRegex).test(v);
  }
}

export function matchesAll(matchers: Matcher[], tags: Record<string, string>): boolean {
  for (const m of matchers) if (!matches(m, tags[m.tag])) return false;
  return true;
}

function timestampOf(value: unknown, field: string, now: bigint): bigint {
  const ns = parseTimestamp(value, now);
  if (ns === undefined) {
    throw bad(
      `${field}: ${JSON.stringify(typeof value === "bigint" ? String(value) : value)} is not a timestamp: use nanoseconds (a decimal string for exactness), RFC 3339, "now" or a relative time such as "-1h"`,
    );
  }
  if (ns < 0n) throw bad(`${field}: timestamps before 1970 are not supported`);
  return ns;
}

/** Validates and normalizes a query; every problem is a BAD_REQUEST that names it. */
export function normalizeQuery(
  input: unknown,
  limits: QueryLimits = DEFAULT_QUERY_LIMITS,
  now: bigint = nowNs(),
): FederatedQuery {
  const request = parseMessage(queryRequestSchema, input, "query");
  const end = request.end === undefined ? now : timestampOf(request.end, "end", now);
  const start =
    request.start === undefined
      ? end - limits.defaultRangeNs > 0n
        ? end - limits.defaultRangeNs
        : 0n
      : timestampOf(request.start, "start", now);
  if (end <= start) {
    throw bad(`end (${end}) must be after start (${start})`, {
      start: String(start),
      end: String(end),
    });
  }
  const query: FederatedQuery = {
    metric: request.metric,
    start,
    end,
    ...splitMatchers(parseMatchers(request.tags)),
    partial: request.partial ?? "allow",
  };
  if (request.aggregation)
    query.aggregation = aggregationOf(request.aggregation, start, end, limits);
  if (request.limit !== undefined) {
    if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > limits.maxPoints) {
      throw bad(
        `limit: ${request.limit} is out of range: a whole number from 1 to ${limits.maxPoints}`,
      );
    }
    query.limit = request.limit;
  }
  if (request.timeoutMs !== undefined) {
    if (
      !Number.isFinite(request.timeoutMs) ||
      request.timeoutMs < 1 ||
      request.timeoutMs > limits.maxTimeoutMs
    ) {
      throw bad(
        `timeoutMs: ${request.timeoutMs} is out of range: from 1 to ${limits.maxTimeoutMs} milliseconds`,
      );
    }
    query.timeoutMs = Math.floor(request.timeoutMs);
  }
  return query;
}

function aggregationOf(
  input: NonNullable<QueryRequest["aggregation"]>,
  start: bigint,
  end: bigint,
  limits: QueryLimits,
): Aggregation {
  const fn = input.function.toLowerCase();
  if (!(AGGREGATION_FUNCTIONS as readonly string[]).includes(fn)) {
    throw bad(
      `aggregation.function: unknown function ${JSON.stringify(input.function)}: use one of ${AGGREGATION_FUNCTIONS.join(", ")}`,
    );
  }
  let windowNs: bigint | undefined;
  if (input.window === undefined) windowNs = end - start;
  else if (typeof input.window === "string")
    windowNs = /^\d+$/.test(input.window) ? BigInt(input.window) : parseDuration(input.window);
  else if (typeof input.window === "bigint") windowNs = input.window;
  else if (Number.isSafeInteger(input.window)) windowNs = BigInt(input.window);
  if (windowNs === undefined || windowNs <= 0n) {
    throw bad(
      `aggregation.window: ${JSON.stringify(String(input.window))} is not a duration: write it like "1m", "30s", "1h30m" (or whole nanoseconds)`,
    );
  }
  const windows = (end - start + windowNs - 1n) / windowNs + 1n;
  if (windows > BigInt(limits.maxPoints)) {
    throw bad(
      `aggregation.window: ${windows} windows between start and end exceed the limit of ${limits.maxPoints} points: widen the window or shorten the range`,
    );
  }
  const by = input.by === undefined ? [] : typeof input.by === "string" ? [input.by] : input.by;
  for (const tag of by) checkTagName(tag, "aggregation.by");
  return { fn: fn as AggregationFunction, windowNs, by: [...new Set(by)] };
}

/** Start of the window holding `ts`: windows are aligned to the epoch. */
export function windowStart(ts: bigint, windowNs: bigint): bigint {
  return ts - (ts % windowNs);
}
