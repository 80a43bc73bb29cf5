import { AGGREGATION_FUNCTIONS, type AggregationFunction } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  type Aggregation,
  finalize,
  PartialSet,
  type Point,
  partialsFromPoints,
  seriesKey,
  windowStart,
} from "../src/index.ts";
import { closeTo, generatePoints, rng, SECOND } from "./generate.ts";

/** Each function computed straight from the values, independently of the partial machinery. */
function reference(points: Point[], aggregation: Aggregation): Map<string, number> {
  const groups = new Map<string, Point[]>();
  for (const p of points) {
    const w = windowStart(p.timestamp, aggregation.windowNs);
    const tags: Record<string, string> = {};
    for (const t of aggregation.by) if (p.tags[t]) tags[t] = p.tags[t] as string;
    const key = `${seriesKey(tags)}@${w}`;
    const list = groups.get(key) ?? [];
    list.push(p);
    groups.set(key, list);
  }
  const out = new Map<string, number>();
  for (const [key, list] of groups) {
    const values = list.map((p) => p.value);
    const n = values.length;
    const sum = values.reduce((a, b) => a + b, 0);
    const byTime = [...list].sort((a, b) =>
      a.timestamp !== b.timestamp ? (a.timestamp < b.timestamp ? -1 : 1) : a.value - b.value,
    );
    let value: number;
    switch (aggregation.fn) {
      case "sum":
        value = sum;
        break;
      case "count":
        value = n;
        break;
      case "avg":
        value = sum / n;
        break;
      case "min":
        value = Math.min(...values);
        break;
      case "max":
        value = Math.max(...values);
        break;
      case "first":
        value = (byTime[0] as Point).value;
        break;
      case "last": {
        const lastTs = (byTime[byTime.length - 1] as Point).timestamp;
        value = Math.max(...list.filter((p) => p.timestamp === lastTs).map((p) => p.value));
        break;
      }
      case "stddev": {
        const mean = sum / n;
        value = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
        break;
      }
      case "rate": {
        const series = new Map<string, Point[]>();
        for (const p of byTime) {
          const k = seriesKey(p.tags);
          const s = series.get(k) ?? [];
          s.push(p);
          series.set(k, s);
        }
        let increase = 0;
        for (const s of series.values()) {
          for (let i = 1; i < s.length; i++) {
            const prev = (s[i - 1] as Point).value;
            const next = (s[i] as Point).value;
            increase += next >= prev ? next - prev : next;
          }
        }
        value = increase / (Number(aggregation.windowNs) / 1e9);
        break;
      }
    }
    out.set(key, value);
  }
  return out;
}

function asMap(points: Point[]): Map<string, number> {
  return new Map(points.map((p) => [`${seriesKey(p.tags)}@${p.timestamp}`, p.value]));
}

function expectSame(actual: Map<string, number>, expected: Map<string, number>, what: string) {
  expect([...actual.keys()].sort(), what).toEqual([...expected.keys()].sort());
  for (const [key, value] of expected) {
    const got = actual.get(key) as number;
    if (!closeTo(got, value, 1e-9)) {
      throw new Error(`${what}: ${key}: got ${got}, expected ${value}`);
    }
  }
}

/** Splits points over shards: whole series at random, or each series cut into time ranges. */
function shard(points: Point[], shards: number, seed: number, byTime: boolean): Point[][] {
  const random = rng(seed);
  const out: Point[][] = Array.from({ length: shards }, () => []);
  if (!byTime) {
    const home = new Map<string, number>();
    for (const p of points) {
      const k = seriesKey(p.tags);
      if (!home.has(k)) home.set(k, Math.floor(random() * shards));
      (out[home.get(k) as number] as Point[]).push(p);
    }
    return out;
  }
  const bySeries = new Map<string, Point[]>();
  for (const p of points) {
    const k = seriesKey(p.tags);
    bySeries.set(k, [...(bySeries.get(k) ?? []), p]);
  }
  for (const list of bySeries.values()) {
    const cuts = [Math.floor(random() * list.length), Math.floor(random() * list.length)].sort(
      (a, b) => a - b,
    );
    list.forEach((p, i) => {
      const s = i < (cuts[0] as number) ? 0 : i < (cuts[1] as number) ? 1 : 2;
      (out[s] as Point[]).push(p);
    });
  }
  return out;
}

const BYS = [[], ["region"], ["host", "region"], ["role"]];
const WINDOWS = [7n * SECOND, 60n * SECOND, 3600n * SECOND];

describe("partial aggregates merged from three shards", () => {
  for (const fn of AGGREGATION_FUNCTIONS) {
    it(`${fn}: every window and group equals the direct computation`, () => {
      for (const [round, by] of BYS.entries()) {
        const points = generatePoints({
          seed: 100 + round,
          series: 9,
          perSeries: 120,
          spanSeconds: 1800,
          counter: fn === "rate",
        });
        for (const windowNs of WINDOWS) {
          const aggregation: Aggregation = { fn: fn as AggregationFunction, windowNs, by };
          const expected = reference(points, aggregation);
          for (const byTime of [false, true]) {
            const set = new PartialSet();
            for (const part of shard(points, 3, round * 7 + Number(windowNs % 97n), byTime)) {
              set.addAll(partialsFromPoints(part, aggregation));
            }
            const merged = finalize("m", aggregation, set.values());
            expectSame(
              asMap(merged),
              expected,
              `${fn} by [${by}] window ${windowNs} byTime=${byTime}`,
            );
          }
        }
      }
    });
  }

  it("avg is a ratio of sums, never a mean of means", () => {
    const a: Point[] = [{ metric: "m", tags: {}, timestamp: 0n, value: 10 }];
    const b: Point[] = [1, 2, 3].map((v, i) => ({
      metric: "m",
      tags: {},
      timestamp: BigInt(i + 1),
      value: v,
    }));
    const aggregation: Aggregation = { fn: "avg", windowNs: 60n * SECOND, by: [] };
    const set = new PartialSet();
    set.addAll(partialsFromPoints(a, aggregation));
    set.addAll(partialsFromPoints(b, aggregation));
    expect(finalize("m", aggregation, set.values())[0]?.value).toBe(16 / 4);
  });

  it("stddev stays accurate for large values with a small spread, merged from many parts", () => {
    // Around 1e9 a sum of squares keeps about 1e2 of absolute precision: far more than this spread.
    const random = rng(7);
    const points: Point[] = Array.from({ length: 3_000 }, (_, i) => ({
      metric: "m",
      tags: { host: `h${i % 3}` },
      timestamp: BigInt(i) * SECOND,
      value: 1e9 + Math.round(random() * 40) / 4,
    }));
    const aggregation: Aggregation = { fn: "stddev", windowNs: 3600n * SECOND, by: [] };
    const set = new PartialSet();
    for (const part of shard(points, 3, 11, true)) {
      for (let i = 0; i < part.length; i += 100) {
        set.addAll(partialsFromPoints(part.slice(i, i + 100), aggregation));
      }
    }
    const got = finalize("m", aggregation, set.values())[0]?.value as number;
    const expected = reference(points, aggregation).values().next().value as number;
    expect(expected).toBeGreaterThan(2);
    expect(Math.abs(got - expected)).toBeLessThan(1e-6 * expected);
  });

  it("rate counts a counter reset as a restart from zero across shards", () => {
    const series = { host: "x" };
    const values = [100, 110, 5, 15];
    const points = values.map((value, i) => ({
      metric: "c",
      tags: series,
      timestamp: BigInt(i) * SECOND,
      value,
    }));
    const aggregation: Aggregation = { fn: "rate", windowNs: 10n * SECOND, by: [] };
    const set = new PartialSet();
    // The reset falls between the two shards.
    set.addAll(partialsFromPoints(points.slice(0, 2), aggregation));
    set.addAll(partialsFromPoints(points.slice(2), aggregation));
    // 10 + 5 (restart from 0) + 10 = 25 over 10 s.
    expect(finalize("c", aggregation, set.values())[0]?.value).toBe(2.5);
  });
});
