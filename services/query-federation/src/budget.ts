/**
 * A query's allowance of raw points and bytes, shared by its instance calls: each call may read
 * only what is left, and the query fails as soon as the points that arrived pass a limit —
 * not after every instance's points sit in memory. Pure.
 */
import { EntenteError } from "@entente/protocol";
import { type Point, pointBytes } from "./points.ts";

export function tooLarge(message: string): EntenteError {
  return new EntenteError(
    "TOO_LARGE",
    `${message}: narrow the time range or the tags, add a limit, or aggregate`,
  );
}

export class PointBudget {
  readonly maxPoints: number;
  readonly maxBytes: number;
  points = 0;
  bytes = 0;

  constructor(maxPoints: number, maxBytes: number) {
    this.maxPoints = maxPoints;
    this.maxBytes = maxBytes;
  }

  /** Points a call may still read (at least 1, so that reading one more shows the excess). */
  remaining(): number {
    return Math.max(1, this.maxPoints - this.points);
  }

  /** Counts points that arrived; TOO_LARGE once the query's total passes a limit. */
  charge(points: Point[]): void {
    this.points += points.length;
    if (this.points > this.maxPoints) {
      throw tooLarge(`query returns more than the limit of ${this.maxPoints} points`);
    }
    // Points of one series share their tag object: size it once.
    const sized = new Map<Record<string, string>, number>();
    for (const p of points) {
      let bytes = sized.get(p.tags);
      if (bytes === undefined) {
        bytes = pointBytes(p);
        sized.set(p.tags, bytes);
      }
      this.bytes += bytes;
    }
    if (this.bytes > this.maxBytes) {
      throw tooLarge(`query returns more than the limit of ${this.maxBytes} bytes`);
    }
  }
}
