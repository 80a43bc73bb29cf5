/**
 * The internal request between federations (hierarchical federation): the normalized query to
 * and from its wire form, and the compact encodings of partials and points
 * (`federateRequestSchema` and the types are in @entente/protocol). Pure.
 */
import {
  EntenteError,
  type FederatePartialAggregate,
  type FederatePoint,
  type FederateRequest,
} from "@entente/protocol";
import { badResponse, toNs, toNumber, toTags, toText } from "./instances/rows.ts";
import type { PartialAggregate, SeriesIncrease } from "./partials.ts";
import type { Point } from "./points.ts";
import { checkTagName, type FederatedQuery, type Matcher, splitMatchers } from "./query.ts";
import { compileTagRegex } from "./tag-regex.ts";

export function toFederateRequest(
  query: FederatedQuery,
  want: "raw" | "partials",
): FederateRequest {
  return {
    want,
    metric: query.metric,
    start: String(query.start),
    end: String(query.end),
    matchers: query.matchers.map((m) => [m.tag, m.op, m.value]),
    ...(query.aggregation && want === "partials"
      ? {
          aggregation: {
            fn: query.aggregation.fn,
            window: String(query.aggregation.windowNs),
            by: query.aggregation.by,
          },
        }
      : {}),
    ...(query.limit !== undefined && want === "raw" ? { limit: query.limit } : {}),
    ...(query.timeoutMs !== undefined ? { timeoutMs: query.timeoutMs } : {}),
  };
}

export function fromFederateRequest(request: FederateRequest): FederatedQuery {
  const start = BigInt(request.start);
  const end = BigInt(request.end);
  if (end <= start) throw new EntenteError("BAD_REQUEST", "end must be after start");
  const all: Matcher[] = request.matchers.map(([tag, op, value]) => {
    checkTagName(tag, "matchers");
    return {
      tag,
      op,
      value,
      ...(op === "=~" || op === "!~" ? { regex: compileTagRegex(tag, value) } : {}),
    };
  });
  const query: FederatedQuery = {
    metric: request.metric,
    start,
    end,
    ...splitMatchers(all),
    partial: "allow",
  };
  if (request.aggregation) {
    const windowNs = BigInt(request.aggregation.window);
    if (windowNs <= 0n) throw new EntenteError("BAD_REQUEST", "window must be positive");
    for (const tag of request.aggregation.by) checkTagName(tag, "aggregation.by");
    query.aggregation = { fn: request.aggregation.fn, windowNs, by: request.aggregation.by };
  }
  if (request.limit !== undefined) query.limit = request.limit;
  if (request.timeoutMs !== undefined) query.timeoutMs = request.timeoutMs;
  return query;
}

export function encodePartialAggregate(p: PartialAggregate): FederatePartialAggregate {
  return [
    p.window,
    p.group,
    p.count,
    p.sum,
    p.min,
    p.max,
    p.m2,
    p.first ? [p.first.ts, p.first.value] : null,
    p.last ? [p.last.ts, p.last.value] : null,
    p.series
      ? p.series.map((s) => [s.key, s.firstTs, s.firstValue, s.lastTs, s.lastValue, s.increase])
      : null,
  ];
}

export function decodePartialAggregate(instance: string, value: unknown): PartialAggregate {
  if (!Array.isArray(value) || value.length !== 10 || !Array.isArray(value[1])) {
    throw badResponse(instance, "a partial aggregate is not in the federation wire form");
  }
  const [w, g, n, s, mn, mx, m2, f, l, series] = value as unknown[];
  const aggregate: PartialAggregate = {
    window: toNs(instance, w, "window"),
    group: (g as unknown[]).map(toText),
    count: toNumber(instance, n, "count"),
    sum: toNumber(instance, s, "sum"),
    min: toNumber(instance, mn, "min"),
    max: toNumber(instance, mx, "max"),
    m2: toNumber(instance, m2, "M2"),
  };
  const sample = (v: unknown, what: string) => {
    if (!Array.isArray(v) || v.length !== 2) throw badResponse(instance, `${what} is malformed`);
    return { ts: toNs(instance, v[0], what), value: toNumber(instance, v[1], what) };
  };
  if (f !== null && f !== undefined) aggregate.first = sample(f, "first");
  if (l !== null && l !== undefined) aggregate.last = sample(l, "last");
  if (series !== null && series !== undefined) {
    if (!Array.isArray(series)) throw badResponse(instance, "series are malformed");
    aggregate.series = series.map((entry): SeriesIncrease => {
      if (!Array.isArray(entry) || entry.length !== 6) {
        throw badResponse(instance, "a series increase is malformed");
      }
      return {
        key: toText(entry[0]),
        firstTs: toNs(instance, entry[1], "series first"),
        firstValue: toNumber(instance, entry[2], "series first value"),
        lastTs: toNs(instance, entry[3], "series last"),
        lastValue: toNumber(instance, entry[4], "series last value"),
        increase: toNumber(instance, entry[5], "series increase"),
      };
    });
  }
  return aggregate;
}

export function encodePoint(p: Point): FederatePoint {
  return [p.tags, p.timestamp, p.value];
}

export function decodePoint(instance: string, metric: string, value: unknown): Point {
  if (!Array.isArray(value) || value.length !== 3) {
    throw badResponse(instance, "a point is not in the federation wire form");
  }
  return {
    metric,
    tags: toTags(instance, value[0]),
    timestamp: toNs(instance, value[1], "timestamp"),
    value: toNumber(instance, value[2], "value"),
  };
}
