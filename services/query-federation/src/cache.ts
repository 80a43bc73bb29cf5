/**
 * The result cache: a bounded LRU (entries and bytes) with a TTL. Only complete results are
 * stored — a partial answer must not outlive the failure that made it partial.
 */
import { toJson } from "@entente/protocol";
import { LRUCache } from "lru-cache";
import type { Point } from "./points.ts";
import { pointBytes } from "./points.ts";
import type { FederatedQuery } from "./query.ts";
import type { Target } from "./router.ts";

export interface CacheSettings {
  enabled: boolean;
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
}

export const DEFAULT_CACHE: CacheSettings = {
  enabled: false,
  maxEntries: 1_000,
  maxBytes: 64 * 1024 * 1024,
  ttlMs: 60_000,
};

interface Entry<T> {
  value: T;
  bytes: number;
}

/** Rough size of an answer of points, for the cache's byte bound. */
export function pointsBytes(points: readonly Point[]): number {
  let bytes = 0;
  for (const p of points) bytes += pointBytes(p);
  return bytes;
}

/**
 * What decides a result: the query without its timeout and partial policy, and the instances
 * it reads — each replica group with the members selected, which may be fewer than all.
 */
export function cacheKey(query: FederatedQuery, targets: Target[]): string {
  return toJson({
    m: query.metric,
    s: query.start,
    e: query.end,
    t: query.matchers.map((m) => [m.tag, m.op, m.value]),
    i: targets.map((t) => (t.kind === "instance" ? t.name : [t.name, ...t.instances])),
    a: query.aggregation
      ? [query.aggregation.fn, query.aggregation.windowNs, query.aggregation.by]
      : null,
    l: query.limit ?? null,
  });
}

/** Answers of one kind (points by default), each with its size for the byte bound. */
export class ResultCache<T = Point[]> {
  hits = 0;
  misses = 0;
  readonly settings: CacheSettings;
  private readonly lru: LRUCache<string, Entry<T>> | undefined;
  private readonly sizeOf: (value: T) => number;

  constructor(settings: CacheSettings, sizeOf?: (value: T) => number) {
    this.settings = settings;
    this.sizeOf = sizeOf ?? ((value) => pointsBytes(value as Point[]));
    this.lru = settings.enabled
      ? new LRUCache<string, Entry<T>>({
          max: settings.maxEntries,
          maxSize: settings.maxBytes,
          sizeCalculation: (entry) => Math.max(1, entry.bytes),
          ttl: settings.ttlMs,
        })
      : undefined;
  }

  get(key: string): T | undefined {
    if (!this.lru) return undefined;
    const entry = this.lru.get(key);
    if (entry) this.hits += 1;
    else this.misses += 1;
    return entry?.value;
  }

  /** Stores a complete result; one larger than the whole cache is not stored. */
  set(key: string, value: T): void {
    if (!this.lru) return;
    const bytes = key.length + this.sizeOf(value);
    if (bytes > this.settings.maxBytes) return;
    this.lru.set(key, { value, bytes });
  }

  view() {
    return {
      enabled: this.settings.enabled,
      hits: this.hits,
      misses: this.misses,
      entries: this.lru?.size ?? 0,
      bytes: this.lru?.calculatedSize ?? 0,
    };
  }
}
