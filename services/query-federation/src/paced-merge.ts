/**
 * The executor's loops over many points and partials, paced: each reports its work to the
 * query's pacer, so a large answer is merged in slices that let other requests run, and the
 * merge ends when the query is out of time. The per-item logic is the pure code of
 * partials.ts, points.ts and dedup.ts.
 */

import { INSTANCE_TAG } from "@entente/protocol";
import { type Pacer, sortPaced } from "@entente/runtime/pace";
import type { PointBudget } from "./budget.ts";
import type { SampleDeduplicator } from "./dedup.ts";
import {
  byTimestamp,
  Finalizer,
  type PartialAggregate,
  PartialSet,
  PartialsBuilder,
} from "./partials.ts";
import type { Point } from "./points.ts";
import type { Aggregation } from "./query.ts";

/** Partials of points that are in time order (as every instance returns them). */
export async function partialsOfOrdered(
  points: Point[],
  aggregation: Aggregation,
  pacer: Pacer,
): Promise<PartialAggregate[]> {
  const builder = new PartialsBuilder(aggregation);
  for (const point of points) {
    builder.add(point);
    if (pacer.due()) await pacer.pause();
  }
  return builder.partials();
}

/** The partials of many instances, merged by window and group. */
export async function mergePartials(
  lists: Iterable<PartialAggregate[]>,
  pacer: Pacer,
): Promise<PartialSet> {
  const set = new PartialSet();
  for (const list of lists) {
    for (const partial of list) {
      set.add(partial);
      if (pacer.due()) await pacer.pause();
    }
  }
  return set;
}

/** Finalized points, ordered by group then window. */
export async function finalizeAll(
  metric: string,
  aggregation: Aggregation,
  partials: PartialAggregate[],
  pacer: Pacer,
): Promise<Point[]> {
  const finalizer = new Finalizer(metric, aggregation);
  for (const partial of partials) {
    finalizer.add(partial);
    if (pacer.due()) await pacer.pause();
  }
  const keys = await sortPaced([...finalizer.groups.keys()], byText, pacer);
  const points: Point[] = [];
  for (const key of keys) {
    let group = finalizer.groups.get(key) as Point[];
    // Windows usually arrive in time order already (reduced from time-ordered points).
    if (!(await inTimeOrder(group, pacer))) group = await sortPaced(group, byTimestamp, pacer);
    for (const point of group) {
      points.push(point);
      if (pacer.due()) await pacer.pause();
    }
  }
  return points;
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function inTimeOrder(points: Point[], pacer: Pacer): Promise<boolean> {
  for (let i = 1; i < points.length; i++) {
    if ((points[i - 1] as Point).timestamp > (points[i] as Point).timestamp) return false;
    if (pacer.due()) await pacer.pause();
  }
  return true;
}

/**
 * K-way merge of time-ordered lists, up to `cap` points; at one timestamp, earlier lists come
 * first.
 */
export async function mergeByTime(lists: Point[][], cap: number, pacer: Pacer): Promise<Point[]> {
  const live = lists.filter((l) => l.length > 0);
  if (live.length <= 1) {
    const only = live[0] ?? [];
    return only.length > cap ? only.slice(0, cap) : only;
  }
  const heads = live.map(() => 0);
  const out: Point[] = [];
  while (out.length < cap) {
    let best = -1;
    let bestTs = 0n;
    for (let i = 0; i < live.length; i++) {
      const point = (live[i] as Point[])[heads[i] as number];
      if (point !== undefined && (best < 0 || point.timestamp < bestTs)) {
        best = i;
        bestTs = point.timestamp;
      }
    }
    if (best < 0) break;
    out.push((live[best] as Point[])[heads[best] as number] as Point);
    heads[best] = (heads[best] as number) + 1;
    if (pacer.due()) await pacer.pause();
  }
  return out;
}

/** Each (series, timestamp) once, the first list's sample kept; order is preserved. */
export async function dedupOrdered(
  points: Point[],
  dedup: SampleDeduplicator,
  pacer: Pacer,
): Promise<Point[]> {
  const out: Point[] = [];
  for (const point of points) {
    if (dedup.admit(point)) out.push(point);
    if (pacer.due()) await pacer.pause();
  }
  return out;
}

/** Counts points against the query's allowance, a chunk at a time. */
export async function chargePoints(
  budget: PointBudget,
  points: Point[],
  pacer: Pacer,
): Promise<void> {
  const chunk = 4096;
  for (let i = 0; i < points.length; i += chunk) {
    budget.charge(i === 0 && points.length <= chunk ? points : points.slice(i, i + chunk));
    if (pacer.due(chunk)) await pacer.pause();
  }
}

/**
 * The points with their instance in `__instance__` (`regional/edge-a` for a point from `edge-a`
 * inside the federation `regional`); one tag object per series, as given.
 */
export async function labelPoints(points: Point[], name: string, pacer: Pacer): Promise<Point[]> {
  const labelled = new Map<Record<string, string>, Record<string, string>>();
  const out: Point[] = new Array(points.length);
  for (let i = 0; i < points.length; i++) {
    const p = points[i] as Point;
    let tags = labelled.get(p.tags);
    if (!tags) {
      const inner = p.tags[INSTANCE_TAG];
      tags = { ...p.tags, [INSTANCE_TAG]: inner ? `${name}/${inner}` : name };
      labelled.set(p.tags, tags);
    }
    out[i] = { metric: p.metric, tags, timestamp: p.timestamp, value: p.value };
    if (pacer.due()) await pacer.pause();
  }
  return out;
}
