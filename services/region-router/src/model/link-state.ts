/**
 * The link-state database of one region, as pure state: the clock is handed in. Every region
 * floods an advert of its live links; each region keeps the newest advert per origin, passes on
 * only adverts it had not seen (so a flood dies out instead of looping), forgets origins that
 * stopped refreshing, and derives the graph that routes are computed over.
 */
import { buildGraph, type Graph, isRegionId, type Link } from "./routes.ts";

/** One region's advertisement of its live links and their costs. */
export interface LinkStateAdvert {
  /** Region id that issued it. */
  origin: number;
  /** Strictly increasing per origin; a restarted origin resumes from a persisted seq or jumps ahead. */
  seq: number;
  /** Origin's clock, ms since epoch (informational: ageing uses the receiver's clock). */
  issuedAt: number;
  /** Cost finite and >= 0; a dead link is simply absent. */
  links: Array<{ to: number; cost: number }>;
}

/** "new": stored, flood it on; "duplicate" and "stale": dropped, never flooded again. */
export type ApplyVerdict = "new" | "duplicate" | "stale" | { invalid: string };

export interface LinkStateSettings {
  /** Most links one advert may carry. */
  maxLinks: number;
  /** An origin not heard from for this long is forgotten. */
  maxAgeMs: number;
  /** How often an origin re-advertises, changed or not; a few refreshes fit in maxAgeMs. */
  refreshMs: number;
}

export const DEFAULT_LINK_STATE: LinkStateSettings = {
  maxLinks: 64,
  maxAgeMs: 60_000,
  refreshMs: 20_000,
};

/** Why an advert cannot be used, naming the bad field; undefined when it is valid. */
export function advertProblem(advert: LinkStateAdvert, maxLinks: number): string | undefined {
  const { origin, seq, issuedAt, links } = advert;
  if (!isRegionId(origin)) return `origin: ${String(origin)} is not a region id (1..65535)`;
  if (!Number.isSafeInteger(seq) || seq < 0) {
    return `seq: ${String(seq)} is not a non-negative safe integer`;
  }
  if (typeof issuedAt !== "number" || !Number.isFinite(issuedAt)) {
    return `issuedAt: ${String(issuedAt)} is not a finite number`;
  }
  if (!Array.isArray(links)) return "links: not an array";
  if (links.length > maxLinks) return `links: ${links.length} links, at most ${maxLinks} allowed`;
  const seen = new Set<number>();
  for (const [i, link] of links.entries()) {
    if (typeof link !== "object" || link === null) return `links[${i}]: not an object`;
    const { to, cost } = link;
    if (!isRegionId(to)) return `links[${i}].to: ${String(to)} is not a region id (1..65535)`;
    if (to === origin) return `links[${i}].to: ${to} is the origin itself`;
    if (seen.has(to)) return `links[${i}].to: ${to} appears twice`;
    seen.add(to);
    if (typeof cost !== "number" || !Number.isFinite(cost) || cost < 0) {
      return `links[${i}].cost: ${String(cost)} is not a finite number >= 0`;
    }
  }
  return undefined;
}

/** Whether an origin that last advertised at `lastSentAt` must advertise again, changed or not. */
export function refreshDue(
  lastSentAt: number,
  now: number,
  refreshMs = DEFAULT_LINK_STATE.refreshMs,
): boolean {
  return now - lastSentAt >= refreshMs;
}

/** Where to send an advert that was new here: every live neighbour but the one it came from. */
export function floodTargets(neighbours: Iterable<number>, from: number | undefined): number[] {
  const targets = new Set<number>();
  for (const neighbour of neighbours) if (neighbour !== from) targets.add(neighbour);
  return [...targets];
}

interface Stored {
  advert: LinkStateAdvert;
  /** Links sorted by `to`, copied so the caller cannot change them afterwards. */
  links: ReadonlyArray<Link>;
  receivedAt: number;
}

export class LinkStateDb {
  readonly settings: LinkStateSettings;
  readonly #stored = new Map<number, Stored>();
  /**
   * Highest seq seen per origin, kept after the origin ages out: a late copy of an old advert
   * still in flight must not bring a dead origin back.
   */
  readonly #highestSeq = new Map<number, number>();
  #version = 0;
  #graph: { version: number; graph: Graph } | undefined;

  constructor(settings: Partial<LinkStateSettings> = {}) {
    this.settings = { ...DEFAULT_LINK_STATE, ...settings };
  }

  /**
   * Counts changes to the graph: an origin's links or costs changed, or an origin arrived or
   * left. A refresh repeating the same links does not count, so routes are recomputed only when
   * they can differ.
   */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#stored.size;
  }

  apply(advert: LinkStateAdvert, now: number): ApplyVerdict {
    const problem = advertProblem(advert, this.settings.maxLinks);
    if (problem !== undefined) return { invalid: problem };
    const highest = this.#highestSeq.get(advert.origin);
    if (highest !== undefined && advert.seq === highest) return "duplicate";
    if (highest !== undefined && advert.seq < highest) return "stale";

    const links = advert.links.map(({ to, cost }) => ({ to, cost })).sort((a, b) => a.to - b.to);
    const before = this.#stored.get(advert.origin);
    if (before === undefined || !sameLinks(before.links, links)) this.#version++;
    this.#stored.set(advert.origin, {
      advert: { ...advert, links: links.map((link) => ({ ...link })) },
      links,
      receivedAt: now,
    });
    this.#highestSeq.set(advert.origin, advert.seq);
    return "new";
  }

  /** Forgets adverts not refreshed within maxAgeMs of `now`; returns their origins, ascending. */
  age(now: number, maxAgeMs = this.settings.maxAgeMs): number[] {
    const removed: number[] = [];
    for (const [origin, stored] of this.#stored) {
      if (now - stored.receivedAt > maxAgeMs) removed.push(origin);
    }
    for (const origin of removed) this.#stored.delete(origin);
    if (removed.length > 0) this.#version++;
    return removed.sort((a, b) => a - b);
  }

  /** The stored advert of an origin (a copy). */
  get(origin: number): LinkStateAdvert | undefined {
    const stored = this.#stored.get(origin);
    if (stored === undefined) return undefined;
    return { ...stored.advert, links: stored.advert.links.map((link) => ({ ...link })) };
  }

  origins(): number[] {
    return [...this.#stored.keys()].sort((a, b) => a - b);
  }

  /**
   * The directed graph: a link a→b counts only when b advertises a link back to a (a one-way
   * link is half-dead or not yet confirmed), at the cost a advertised. Cached per version.
   */
  graph(): Graph {
    if (this.#graph?.version === this.#version) return this.#graph.graph;
    const confirmed = new Map<number, Link[]>();
    for (const [origin, { links }] of this.#stored) {
      const out: Link[] = [];
      for (const link of links) {
        const back = this.#stored.get(link.to);
        if (back !== undefined && hasLinkTo(back.links, origin)) out.push(link);
      }
      confirmed.set(origin, out);
    }
    const graph = buildGraph(confirmed);
    this.#graph = { version: this.#version, graph };
    return graph;
  }
}

function sameLinks(a: ReadonlyArray<Link>, b: ReadonlyArray<Link>): boolean {
  return (
    a.length === b.length && a.every((link, i) => link.to === b[i]!.to && link.cost === b[i]!.cost)
  );
}

/** Links are sorted by `to`: binary search. */
function hasLinkTo(links: ReadonlyArray<Link>, to: number): boolean {
  let low = 0;
  let high = links.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const at = links[mid]!.to;
    if (at === to) return true;
    if (at < to) low = mid + 1;
    else high = mid - 1;
  }
  return false;
}
