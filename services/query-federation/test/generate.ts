/** Generated test data: seeded, so a failure can be replayed. */

import { seededRandom } from "@entente/testkit";
import type { Point } from "../src/index.ts";

export const rng = seededRandom;

export const SECOND = 1_000_000_000n;
export const BASE = 1_700_000_000n * SECOND;

/**
 * Points of `series` series over `spanSeconds`: gauges with quarter-step values (sums stay
 * exact) and counters that sometimes reset. Timestamps collide across series on purpose, so
 * first/last ties are exercised.
 */
export function generatePoints(options: {
  seed: number;
  series: number;
  perSeries: number;
  spanSeconds: number;
  metric?: string;
  counter?: boolean;
}): Point[] {
  const random = rng(options.seed);
  const regions = ["us-west", "us-east", "eu-west"];
  const points: Point[] = [];
  for (let s = 0; s < options.series; s++) {
    const tags: Record<string, string> = {
      host: `h${s}`,
      region: regions[s % regions.length] as string,
    };
    if (s % 4 === 0) tags.role = "db";
    const stamps = new Set<bigint>();
    while (stamps.size < options.perSeries) {
      stamps.add(BASE + BigInt(Math.floor(random() * options.spanSeconds)) * SECOND);
    }
    const sorted = [...stamps].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let counter = Math.floor(random() * 100);
    for (const timestamp of sorted) {
      let value: number;
      if (options.counter) {
        counter = random() < 0.05 ? Math.floor(random() * 10) : counter + Math.floor(random() * 20);
        value = counter;
      } else {
        value = Math.round((random() * 200 - 50) * 4) / 4;
      }
      points.push({ metric: options.metric ?? "m", tags, timestamp, value });
    }
  }
  return points;
}

export function closeTo(a: number, b: number, relative = 1e-9): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  const scale = Math.max(1, Math.abs(a), Math.abs(b));
  return Math.abs(a - b) <= relative * scale;
}
