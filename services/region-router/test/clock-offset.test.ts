import { describe, expect, it } from "vitest";
import {
  ClockFilter,
  clockSample,
  DEFAULT_CLOCK_FILTER_SIZE,
  type ProbeTimestamps,
} from "../src/model/clock-offset.ts";

/**
 * The four timestamps of a probe to a server whose clock is `offset` ms ahead, taking `out` ms
 * there, `back` ms back, and `serverMs` ms in between, sent at `t1` on our clock.
 */
function probe(
  t1: number,
  offset: number,
  out: number,
  back: number,
  serverMs = 1,
): ProbeTimestamps {
  const t2 = t1 + out + offset;
  const t3 = t2 + serverMs;
  return { t1, t2, t3, t4: t3 - offset + back };
}

describe("clockSample", () => {
  it("recovers the offset and the delay exactly when both directions take as long", () => {
    expect(clockSample(probe(1_000, 250, 20, 20, 5))).toEqual({ offsetMs: 250, delayMs: 40 });
    expect(clockSample(probe(1_000, -70, 15, 15))).toEqual({ offsetMs: -70, delayMs: 30 });
  });

  it("errs by half the asymmetry when the directions differ", () => {
    // 60 ms out, 20 ms back: off by (60 − 20)/2 = 20 ms, within half the 80 ms delay.
    expect(clockSample(probe(0, 100, 60, 20))).toEqual({ offsetMs: 120, delayMs: 80 });
  });

  it("follows the textbook example", () => {
    expect(clockSample({ t1: 0, t2: 110, t3: 115, t4: 35 })).toEqual({
      offsetMs: 95,
      delayMs: 30,
    });
  });

  it("rejects a negative delay and timestamps that are not numbers", () => {
    // The server claims 50 ms of work within a 30 ms round trip.
    expect(clockSample({ t1: 0, t2: 10, t3: 60, t4: 30 })).toBeUndefined();
    expect(clockSample({ t1: 0, t2: Number.NaN, t3: 1, t4: 2 })).toBeUndefined();
    // No delay at all is possible (same host, coarse clock).
    expect(clockSample({ t1: 0, t2: 5, t3: 5, t4: 0 })).toEqual({ offsetMs: 5, delayMs: 0 });
  });
});

describe("ClockFilter", () => {
  it("knows nothing before a sample", () => {
    const filter = new ClockFilter();
    expect(filter.offset()).toBeUndefined();
    expect(filter.best()).toBeUndefined();
    expect(filter.exceeds(0)).toBe(false);
  });

  it("reports the offset of the sample with the least delay, not the latest or the mean", () => {
    const filter = new ClockFilter();
    filter.add(probe(0, 100, 90, 10)); // offset 140, delay 100
    filter.add(probe(1_000, 100, 12, 8)); // offset 102, delay 20
    filter.add(probe(2_000, 100, 10, 70)); // offset 70, delay 80
    expect(filter.offset()).toBe(102);
    expect(filter.best()).toEqual({ offsetMs: 102, delayMs: 20 });
  });

  it("prefers the most recent among samples of equal delay", () => {
    const filter = new ClockFilter();
    filter.add(probe(0, 100, 20, 20));
    filter.add(probe(1_000, 130, 20, 20));
    expect(filter.offset()).toBe(130);
  });

  it("keeps the last eight samples by default, so an old fast sample is forgotten", () => {
    expect(DEFAULT_CLOCK_FILTER_SIZE).toBe(8);
    const filter = new ClockFilter();
    filter.add(probe(0, 500, 1, 1)); // the fastest ever, with a stale offset
    for (let i = 1; i <= 7; i++) filter.add(probe(i * 1_000, 100 + i, 10 + i, 10 + i));
    expect(filter.size).toBe(8);
    expect(filter.offset()).toBe(500);
    filter.add(probe(8_000, 200, 50, 50));
    expect(filter.size).toBe(8);
    expect(filter.offset()).toBe(101);
  });

  it("keeps as many samples as asked", () => {
    const filter = new ClockFilter(2);
    filter.add(probe(0, 10, 1, 1));
    filter.add(probe(1, 20, 5, 5));
    filter.add(probe(2, 30, 9, 9));
    expect(filter.size).toBe(2);
    expect(filter.offset()).toBe(20);
    expect(() => new ClockFilter(0)).toThrow(RangeError);
    expect(() => new ClockFilter(1.5)).toThrow(RangeError);
  });

  it("leaves out and counts rejected probes", () => {
    const filter = new ClockFilter();
    expect(filter.add({ t1: 0, t2: 10, t3: 60, t4: 30 })).toBe(false);
    expect(filter.add(probe(0, 5, 3, 3))).toBe(true);
    expect(filter.rejected).toBe(1);
    expect(filter.size).toBe(1);
    expect(filter.offset()).toBe(5);
  });

  it("tells whether the clocks differ by more than a threshold, either way", () => {
    const ahead = new ClockFilter();
    ahead.add(probe(0, 300, 10, 10));
    expect(ahead.exceeds(299)).toBe(true);
    expect(ahead.exceeds(300)).toBe(false);
    const behind = new ClockFilter();
    behind.add(probe(0, -300, 10, 10));
    expect(behind.exceeds(299)).toBe(true);
    expect(behind.exceeds(300)).toBe(false);
  });
});
