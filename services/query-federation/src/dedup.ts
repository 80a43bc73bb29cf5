/**
 * Replica-group deduplication: replicas hold the same samples, so the same series at the same
 * timestamp from two replicas is one sample, counted once. Pure.
 */
import { type Point, seriesKey } from "./points.ts";

export class SampleDeduplicator {
  private readonly seen = new Set<string>();
  duplicates = 0;

  /** True the first time a (series, timestamp) is offered. */
  admit(point: Point): boolean {
    const key = `${point.metric}\u0003${seriesKey(point.tags)}\u0003${point.timestamp}`;
    if (this.seen.has(key)) {
      this.duplicates += 1;
      return false;
    }
    this.seen.add(key);
    return true;
  }
}

export function dedupPoints(groups: Iterable<Iterable<Point>>): Point[] {
  const dedup = new SampleDeduplicator();
  const out: Point[] = [];
  for (const points of groups) for (const p of points) if (dedup.admit(p)) out.push(p);
  return out;
}
