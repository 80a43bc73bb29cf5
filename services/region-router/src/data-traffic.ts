/**
 * Reads by id per destination region, as this region's sql-join workers count them on
 * `$SRV.STATS` (`dataRegions`): the router adds them to its traffic view, so one request per
 * region gives an operator the whole matrix. Counters are summed over the workers; the replica
 * store is the region's, shared by its workers, so its size is taken once (the largest report)
 * and its staleness is the freshest report's.
 */
import type { DataTraffic, TrafficReply } from "@entente/protocol";
import { PEER_METADATA } from "@entente/runtime";

/** How long the router gathers its region's sql-join workers' stats for a traffic view. */
export const DATA_STATS_WAIT_MS = 250;

const COUNTERS = [
  "requests",
  "bytes",
  "replicaHits",
  "evictions",
  "dropped",
  "feedErrors",
] as const;
const STORE = ["replicas", "replicaBytes"] as const;

/** The figures per destination region in `$SRV.STATS` replies of this region and deployment. */
export function mergeDataFigures(
  replies: readonly unknown[],
  deployment: string,
  self: number,
): Map<number, DataTraffic> {
  const merged = new Map<number, DataTraffic>();
  for (const reply of replies) {
    for (const pair of pairsIn(reply, deployment)) {
      if (pair.from !== self || !Number.isInteger(pair.to)) continue;
      const to = pair.to as number;
      let figures = merged.get(to);
      if (!figures) {
        figures = {
          requests: 0,
          bytes: 0,
          replicaHits: 0,
          evictions: 0,
          dropped: 0,
          feedErrors: 0,
          replicas: 0,
          replicaBytes: 0,
          stalenessMs: null,
        };
        merged.set(to, figures);
      }
      for (const key of COUNTERS) figures[key] += count(pair[key]);
      for (const key of STORE) figures[key] = Math.max(figures[key], count(pair[key]));
      const staleness = pair.stalenessMs;
      if (typeof staleness === "number" && staleness >= 0) {
        figures.stalenessMs =
          figures.stalenessMs === null ? staleness : Math.min(figures.stalenessMs, staleness);
      }
    }
  }
  return merged;
}

/** One worker's `dataRegions` entries (one copy: every endpoint carries the service's data). */
function pairsIn(reply: unknown, deployment: string): Array<Record<string, unknown>> {
  if (typeof reply !== "object" || reply === null) return [];
  const { metadata, endpoints } = reply as { metadata?: unknown; endpoints?: unknown };
  const own = (metadata as Record<string, unknown> | null | undefined)?.[PEER_METADATA.deployment];
  if (own !== deployment || !Array.isArray(endpoints)) return [];
  const data = (endpoints[0] as { data?: { dataRegions?: unknown } } | undefined)?.data;
  const pairs = data?.dataRegions;
  if (!Array.isArray(pairs)) return [];
  return pairs.filter((p): p is Record<string, unknown> => typeof p === "object" && p !== null);
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** The router's traffic view with each destination's data figures (and their destinations). */
export function withDataTraffic(
  view: TrafficReply,
  data: ReadonlyMap<number, DataTraffic>,
): TrafficReply {
  const to = view.to.map((t) => {
    const figures = data.get(t.region);
    return figures ? { ...t, data: figures } : t;
  });
  for (const [region, figures] of data) {
    if (!to.some((t) => t.region === region)) {
      to.push({ region, requests: 0, requestBytes: 0, replyBytes: 0, data: figures });
    }
  }
  return { ...view, to: to.sort((a, b) => a.region - b.region) };
}
