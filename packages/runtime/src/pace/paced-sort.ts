/**
 * A stable sort that pauses: `Array.prototype.sort` over millions of rows cannot be interrupted,
 * so runs short enough for one slice are sorted with it and then merged pairwise, the merge
 * reporting every step to the pacer. It needs one extra array of the input's length.
 */
import type { Pacer } from "./pacer.ts";

/** Items per run sorted in one go: about a millisecond of comparisons. */
export const SORT_RUN = 4096;

/**
 * The items in stable order: `items` itself, reordered, or a second array, `items` then left as
 * scratch.
 */
export async function sortPaced<T>(
  items: T[],
  compare: (a: T, b: T) => number,
  pacer: Pacer,
): Promise<T[]> {
  const n = items.length;
  for (let lo = 0; lo < n; lo += SORT_RUN) {
    const run = items.slice(lo, lo + SORT_RUN).sort(compare);
    for (let i = 0; i < run.length; i++) items[lo + i] = run[i] as T;
    if (pacer.due(run.length)) await pacer.pause();
  }
  if (n <= SORT_RUN) return items;
  let from = items;
  let to = new Array<T>(n);
  for (let width = SORT_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        // Ties take the left run's item first, which keeps the sort stable.
        to[k++] = compare(from[j] as T, from[i] as T) < 0 ? (from[j++] as T) : (from[i++] as T);
        if (pacer.due()) await pacer.pause();
      }
      while (i < mid) to[k++] = from[i++] as T;
      while (j < hi) to[k++] = from[j++] as T;
    }
    [from, to] = [to, from];
  }
  return from;
}
