/**
 * What a replica is worth, for choosing which to evict when the region's byte budget is spent:
 * its recent hits (each hit's weight halving every `halfLifeMs`) per byte it holds. Pure, with
 * the clock handed in.
 */

/** A replica's hits as a decayed score, as of `at`. */
export interface Worth {
  score: number;
  at: number;
}

/** The score decayed from `worth.at` to `now`. */
export function decayed(worth: Worth, now: number, halfLifeMs: number): number {
  const age = Math.max(0, now - worth.at);
  return worth.score * 0.5 ** (age / halfLifeMs);
}

/** The worth after `hits` more reads at `now`. */
export function withHits(
  worth: Worth | undefined,
  hits: number,
  now: number,
  halfLifeMs: number,
): Worth {
  return { score: (worth ? decayed(worth, now, halfLifeMs) : 0) + hits, at: now };
}

export interface Held {
  key: string;
  bytes: number;
  worth: Worth | undefined;
}

/**
 * The keys to evict, least valuable first (fewest decayed hits per byte; ties: the larger
 * first), until what is left fits in `budgetBytes`.
 */
export function toEvict(
  held: readonly Held[],
  budgetBytes: number,
  now: number,
  halfLifeMs: number,
): string[] {
  let total = held.reduce((n, h) => n + h.bytes, 0);
  if (total <= budgetBytes) return [];
  const ranked = held
    .map((h) => ({
      ...h,
      value: (h.worth ? decayed(h.worth, now, halfLifeMs) : 0) / Math.max(1, h.bytes),
    }))
    .sort((a, b) => a.value - b.value || b.bytes - a.bytes || (a.key < b.key ? -1 : 1));
  const out: string[] = [];
  for (const h of ranked) {
    if (total <= budgetBytes) break;
    out.push(h.key);
    total -= h.bytes;
  }
  return out;
}
