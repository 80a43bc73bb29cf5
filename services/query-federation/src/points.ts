/** Points and series keys. */

export interface Point {
  metric: string;
  tags: Record<string, string>;
  /** Nanoseconds since the epoch. */
  timestamp: bigint;
  value: number;
}

/** A canonical key for a tag set: same tags in any order → same key. */
export function seriesKey(tags: Record<string, string>): string {
  const keys = Object.keys(tags).sort();
  let out = "";
  for (const k of keys) out += `${k}\u0000${tags[k]}\u0001`;
  return out;
}

/** Rough in-memory/wire size of a point, for the per-query byte limit. */
export function pointBytes(point: Point): number {
  let bytes = 32 + point.metric.length;
  for (const k in point.tags) bytes += k.length + (point.tags[k] as string).length + 4;
  return bytes;
}
