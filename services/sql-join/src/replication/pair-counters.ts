/**
 * Figures per region pair (this region → an owner region), for `$SRV.STATS`: what reads by id
 * cost across regions and what replicas saved. Counters only grow; the gauges (replica bytes,
 * staleness) are read when the stats are.
 */
export interface RegionPairFigures {
  /**
   * Requests this worker sent to the other region, answered or not: reads by id, puts, row
   * fetches for new replicas and feed polls.
   */
  requests: number;
  /** Bytes of the owner's replies to them (as MessagePack). */
  bytes: number;
  /** Ids answered from a replica held here instead of asking the owner. */
  replicaHits: number;
  /** Replicas dropped to keep the region within its budget. */
  evictions: number;
  /** Replicas dropped because the owner's stream no longer held the changes they needed. */
  dropped: number;
  /** Feed polls that failed (owner unreachable, or an answer that is not a feed). */
  feedErrors: number;
}

export class RegionPairCounters {
  readonly #pairs = new Map<number, RegionPairFigures>();

  #of(owner: number): RegionPairFigures {
    let figures = this.#pairs.get(owner);
    if (!figures) {
      figures = { requests: 0, bytes: 0, replicaHits: 0, evictions: 0, dropped: 0, feedErrors: 0 };
      this.#pairs.set(owner, figures);
    }
    return figures;
  }

  request(owner: number, bytes: number): void {
    const f = this.#of(owner);
    f.requests += 1;
    f.bytes += bytes;
  }

  add(owner: number, figure: Exclude<keyof RegionPairFigures, "requests" | "bytes">, n = 1): void {
    this.#of(owner)[figure] += n;
  }

  owners(): number[] {
    return [...this.#pairs.keys()];
  }

  figures(owner: number): RegionPairFigures {
    return { ...this.#of(owner) };
  }
}
