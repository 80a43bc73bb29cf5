/**
 * How workers sharing one configuration divide its links: each takes unleased links up to its
 * fair share, ceil(links / workers), any link nobody has held for a lease lifetime whatever the
 * share, and names what it holds beyond its share. Pure: the registry reads the leases and acts.
 */

/**
 * Which links this worker should take and which it should give up, given who holds what.
 * Pure: `unleasedSince` says since when each link without a lease has been seen without one.
 */
export function planShare(options: {
  known: readonly string[];
  owned: readonly string[];
  leased: ReadonlySet<string>;
  workers: number;
  unleasedSince: ReadonlyMap<string, number>;
  now: number;
  leaseTtlMs: number;
}): { share: number; acquire: string[]; excess: string[] } {
  const { known, owned, leased, now, leaseTtlMs } = options;
  const share = Math.ceil(known.length / Math.max(1, options.workers));
  const mine = new Set(owned);
  // The last by name go: a stable choice, so the same links move however often this is asked.
  const excess = options.workers > 1 ? [...owned].sort().slice(share) : [];
  let room = share - owned.length;
  const acquire: string[] = [];
  for (const link of known) {
    if (mine.has(link) || leased.has(link)) continue;
    const overdue = now - (options.unleasedSince.get(link) ?? now) >= leaseTtlMs;
    if (room > 0 || overdue) {
      acquire.push(link);
      room--;
    }
  }
  return { share, acquire, excess };
}
