/**
 * Partial aggregates per (window, group) and their exact merge. An instance reduces its points
 * to partials; the executor merges partials from many instances and finalizes them. Every
 * function is derived from state that merges associatively:
 *   sum, count, min, max     — sums, counts, minima and maxima of the parts
 *   avg                      — sum / count (never a mean of means)
 *   stddev (population)      — from count, sum and M2 (squared deviations from the part's
 *                              mean), merged with Chan et al.'s parallel formula: a sum of
 *                              squares minus sum²/n cancels catastrophically for large values
 *   first / last             — the sample with the smallest / largest timestamp; ties at one
 *                              timestamp go to the smaller value (first) / larger value (last)
 *   rate                     — per series: first and last sample and the increase between them
 *                              counting counter resets; series parts are chained in time order
 * Pure: no I/O.
 */

import type { AggregationFunction } from "@entente/protocol";
import { type Point, seriesKey } from "./points.ts";
import type { Aggregation } from "./query.ts";
import { windowStart } from "./query.ts";

/** One series' counter movement within a window. */
export interface SeriesIncrease {
  key: string;
  firstTs: bigint;
  firstValue: number;
  lastTs: bigint;
  lastValue: number;
  /** Sum of increases between consecutive samples, a drop counting as a reset to zero. */
  increase: number;
}

export interface PartialAggregate {
  /** Window start, nanoseconds. */
  window: bigint;
  /** Values of the `by` tags, in order; a missing tag is "". */
  group: string[];
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Sum of squared deviations from this part's mean (sum / count). */
  m2: number;
  first?: { ts: bigint; value: number };
  last?: { ts: bigint; value: number };
  /** Rate only. */
  series?: SeriesIncrease[];
}

export function groupKey(window: bigint, group: string[]): string {
  return `${window}\u0002${groupText(group)}`;
}

function groupText(group: string[]): string {
  return group.join("\u0001");
}

/** What a tag set contributes to every point's aggregate: its group and series key. */
interface SeriesGroup {
  group: string[];
  groupText: string;
  seriesKey: string;
}

/** Counter increase from `a` to `b`: a drop means the counter restarted from zero. */
export function counterDelta(previous: number, next: number): number {
  return next >= previous ? next - previous : next;
}

/** Chains two parts of one series in time order. Exact when they do not overlap in time. */
export function mergeSeries(a: SeriesIncrease, b: SeriesIncrease): SeriesIncrease {
  const [early, late] = b.firstTs < a.firstTs ? [b, a] : [a, b];
  if (late.firstTs >= early.lastTs) {
    return {
      key: early.key,
      firstTs: early.firstTs,
      firstValue: early.firstValue,
      lastTs: late.lastTs,
      lastValue: late.lastValue,
      increase: early.increase + late.increase + counterDelta(early.lastValue, late.firstValue),
    };
  }
  // Interleaved parts of one series (two writers of one series): keep the larger increase.
  const last = late.lastTs >= early.lastTs ? late : early;
  return {
    key: early.key,
    firstTs: early.firstTs,
    firstValue: early.firstValue,
    lastTs: last.lastTs,
    lastValue: last.lastValue,
    increase: Math.max(early.increase, late.increase),
  };
}

function pickFirst(
  a: { ts: bigint; value: number } | undefined,
  b: { ts: bigint; value: number } | undefined,
) {
  if (!a) return b;
  if (!b) return a;
  if (a.ts !== b.ts) return a.ts < b.ts ? a : b;
  return a.value <= b.value ? a : b;
}

function pickLast(
  a: { ts: bigint; value: number } | undefined,
  b: { ts: bigint; value: number } | undefined,
) {
  if (!a) return b;
  if (!b) return a;
  if (a.ts !== b.ts) return a.ts > b.ts ? a : b;
  return a.value >= b.value ? a : b;
}

/** Chan et al.: M2 of the union from both parts' M2, counts and means. */
function mergeM2(a: PartialAggregate, b: PartialAggregate): number {
  if (a.count === 0) return b.m2;
  if (b.count === 0) return a.m2;
  const delta = b.sum / b.count - a.sum / a.count;
  return a.m2 + b.m2 + (delta * delta * a.count * b.count) / (a.count + b.count);
}

/** Merges `b` into `a` (same window and group). */
export function mergePartialAggregate(a: PartialAggregate, b: PartialAggregate): PartialAggregate {
  const merged: PartialAggregate = {
    window: a.window,
    group: a.group,
    count: a.count + b.count,
    sum: a.sum + b.sum,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    m2: mergeM2(a, b),
  };
  const first = pickFirst(a.first, b.first);
  const last = pickLast(a.last, b.last);
  if (first) merged.first = first;
  if (last) merged.last = last;
  if (a.series || b.series) {
    const bySeries = new Map<string, SeriesIncrease>();
    for (const s of [...(a.series ?? []), ...(b.series ?? [])]) {
      const seen = bySeries.get(s.key);
      bySeries.set(s.key, seen ? mergeSeries(seen, s) : s);
    }
    merged.series = [...bySeries.values()];
  }
  return merged;
}

/** Accumulates partials by (window, group), merging as they arrive. */
export class PartialSet {
  private readonly groups = new Map<string, PartialAggregate>();

  get size(): number {
    return this.groups.size;
  }

  add(aggregate: PartialAggregate): void {
    const key = groupKey(aggregate.window, aggregate.group);
    const seen = this.groups.get(key);
    this.groups.set(key, seen ? mergePartialAggregate(seen, aggregate) : aggregate);
  }

  addAll(partials: Iterable<PartialAggregate>): void {
    for (const p of partials) this.add(p);
  }

  values(): PartialAggregate[] {
    return [...this.groups.values()];
  }
}

/**
 * Reduces raw points to partials, one point at a time (for instances that cannot push an
 * aggregation down). For rate, points must arrive in time order.
 */
export class PartialsBuilder {
  private readonly aggregation: Aggregation;
  private readonly rate: boolean;
  private readonly wantsEnds: boolean;
  private readonly byKey = new Map<string, PartialAggregate>();
  private readonly seriesIndex = new Map<string, Map<string, SeriesIncrease>>();
  /** Points of one series share their tag object: its group and series key are made once. */
  private readonly perTags = new Map<Record<string, string>, SeriesGroup>();

  constructor(aggregation: Aggregation) {
    this.aggregation = aggregation;
    this.rate = aggregation.fn === "rate";
    this.wantsEnds = aggregation.fn === "first" || aggregation.fn === "last";
  }

  add(point: Point): void {
    let of = this.perTags.get(point.tags);
    if (!of) {
      const group = this.aggregation.by.map((tag) => point.tags[tag] ?? "");
      of = {
        group,
        groupText: groupText(group),
        seriesKey: this.rate ? seriesKey(point.tags) : "",
      };
      this.perTags.set(point.tags, of);
    }
    const window = windowStart(point.timestamp, this.aggregation.windowNs);
    const key = `${window}\u0002${of.groupText}`;
    let aggregate = this.byKey.get(key);
    const v = point.value;
    if (!aggregate) {
      aggregate = { window, group: of.group, count: 0, sum: 0, min: v, max: v, m2: 0 };
      this.byKey.set(key, aggregate);
    }
    // Welford's update of M2.
    const delta = aggregate.count === 0 ? 0 : v - aggregate.sum / aggregate.count;
    aggregate.count += 1;
    aggregate.sum += v;
    aggregate.m2 += delta * (v - aggregate.sum / aggregate.count);
    if (v < aggregate.min) aggregate.min = v;
    if (v > aggregate.max) aggregate.max = v;
    if (this.wantsEnds) {
      const sample = { ts: point.timestamp, value: v };
      aggregate.first = pickFirst(aggregate.first, sample);
      aggregate.last = pickLast(aggregate.last, sample);
    }
    if (this.rate) {
      let series = this.seriesIndex.get(key);
      if (!series) {
        series = new Map();
        this.seriesIndex.set(key, series);
      }
      const skey = of.seriesKey;
      const seen = series.get(skey);
      const sample: SeriesIncrease = {
        key: skey,
        firstTs: point.timestamp,
        firstValue: v,
        lastTs: point.timestamp,
        lastValue: v,
        increase: 0,
      };
      series.set(skey, seen ? mergeSeries(seen, sample) : sample);
    }
  }

  partials(): PartialAggregate[] {
    if (this.rate) {
      for (const [key, series] of this.seriesIndex) {
        const aggregate = this.byKey.get(key);
        if (aggregate) aggregate.series = [...series.values()];
      }
    }
    return [...this.byKey.values()];
  }
}

/** Reduces raw points, in any order, to partials. */
export function partialsFromPoints(
  points: Iterable<Point>,
  aggregation: Aggregation,
): PartialAggregate[] {
  const builder = new PartialsBuilder(aggregation);
  // Rate chains samples per series: feed them in time order.
  const ordered = aggregation.fn === "rate" ? [...points].sort(byTimestamp) : points;
  for (const point of ordered) builder.add(point);
  return builder.partials();
}

/** Time order of points. */
export function byTimestamp(a: Point, b: Point): number {
  return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0;
}

/** The final value of one window and group. */
export function finalValue(
  fn: AggregationFunction,
  aggregate: PartialAggregate,
  windowNs: bigint,
): number {
  switch (fn) {
    case "sum":
      return aggregate.sum;
    case "count":
      return aggregate.count;
    case "avg":
      return aggregate.sum / aggregate.count;
    case "min":
      return aggregate.min;
    case "max":
      return aggregate.max;
    case "first":
      return aggregate.first?.value ?? Number.NaN;
    case "last":
      return aggregate.last?.value ?? Number.NaN;
    case "stddev": {
      return Math.sqrt(Math.max(0, aggregate.m2 / aggregate.count));
    }
    case "rate": {
      let increase = 0;
      for (const s of aggregate.series ?? []) increase += s.increase;
      return increase / (Number(windowNs) / 1e9);
    }
  }
}

/**
 * Turns partials, one at a time, into finalized points, kept per group; `by` tags become the
 * point's tags. Points are ordered by group (its series key), then window: `groups` holds each
 * group's points in arrival order, to be put in that order by the caller.
 */
export class Finalizer {
  /** A group's points by its series key. */
  readonly groups = new Map<string, Point[]>();
  private readonly metric: string;
  private readonly aggregation: Aggregation;
  /** Each group's tags and points, found by its group text. */
  private readonly byText = new Map<string, { tags: Record<string, string>; points: Point[] }>();

  constructor(metric: string, aggregation: Aggregation) {
    this.metric = metric;
    this.aggregation = aggregation;
  }

  add(aggregate: PartialAggregate): void {
    if (aggregate.count === 0) return;
    const text = groupText(aggregate.group);
    let group = this.byText.get(text);
    if (!group) {
      const tags: Record<string, string> = {};
      this.aggregation.by.forEach((tag, i) => {
        const value = aggregate.group[i];
        if (value) tags[tag] = value;
      });
      const key = seriesKey(tags);
      let points = this.groups.get(key);
      if (!points) {
        points = [];
        this.groups.set(key, points);
      }
      group = { tags, points };
      this.byText.set(text, group);
    }
    group.points.push({
      metric: this.metric,
      tags: group.tags,
      timestamp: aggregate.window,
      value: finalValue(this.aggregation.fn, aggregate, this.aggregation.windowNs),
    });
  }
}

/** Finalized points, ordered by group then window. */
export function finalize(
  metric: string,
  aggregation: Aggregation,
  partials: Iterable<PartialAggregate>,
): Point[] {
  const finalizer = new Finalizer(metric, aggregation);
  for (const aggregate of partials) finalizer.add(aggregate);
  const keys = [...finalizer.groups.keys()].sort();
  return keys.flatMap((key) => (finalizer.groups.get(key) as Point[]).sort(byTimestamp));
}
