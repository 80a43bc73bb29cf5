/**
 * Replica-group deduplication: replicas hold the same samples, so the same series at the same
 * timestamp from two replicas is one sample, counted once. Pure.
 */
import { type Point, seriesKey } from "./points.ts";

export class SampleDeduplicator {
  private readonly seen = new Set<string>();
  /** Points of one series share their tag object: its key is made once. */
  private readonly keys = new Map<Record<string, string>, string>();
  private readonly ignoredTag: string | undefined;

  /** `ignoredTag` (the instance label) does not tell samples apart. */
  constructor(ignoredTag?: string) {
    this.ignoredTag = ignoredTag;
  }

  /** True the first time a (series, timestamp) is offered. */
  admit(point: Point): boolean {
    const key = `${point.metric}\u0003${this.seriesOf(point.tags)}\u0003${point.timestamp}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }

  private seriesOf(tags: Record<string, string>): string {
    let key = this.keys.get(tags);
    if (key === undefined) {
      if (this.ignoredTag !== undefined && this.ignoredTag in tags) {
        const { [this.ignoredTag]: _ignored, ...rest } = tags;
        key = seriesKey(rest);
      } else {
        key = seriesKey(tags);
      }
      this.keys.set(tags, key);
    }
    return key;
  }
}

export function dedupPoints(groups: Iterable<Iterable<Point>>): Point[] {
  const dedup = new SampleDeduplicator();
  const out: Point[] = [];
  for (const points of groups) for (const p of points) if (dedup.admit(p)) out.push(p);
  return out;
}
