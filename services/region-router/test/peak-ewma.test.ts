import { describe, expect, it } from "vitest";
import { DEFAULT_PEAK_EWMA, PeakEwma } from "../src/model/peak-ewma.ts";

const TAU = DEFAULT_PEAK_EWMA.decayMs;

describe("PeakEwma", () => {
  it("knows nothing before the first sample, then takes it as it is", () => {
    const ewma = new PeakEwma();
    expect(ewma.estimate(0)).toBeUndefined();
    expect(ewma.lastObservedAt).toBeUndefined();
    ewma.observe(42, 1_000);
    expect(ewma.estimate(1_000)).toBe(42);
    expect(ewma.lastObservedAt).toBe(1_000);
  });

  it("jumps to a sample above the estimate at once, however soon it comes", () => {
    const ewma = new PeakEwma();
    ewma.observe(20, 0);
    ewma.observe(500, 0);
    expect(ewma.estimate(0)).toBe(500);
  });

  it("moves toward a lower sample by 1 − exp(−Δt/τ) of the gap", () => {
    const ewma = new PeakEwma();
    ewma.observe(200, 0);
    ewma.observe(100, TAU);
    // w = e^−1: 200·0.368 + 100·0.632
    expect(ewma.estimate(TAU)).toBeCloseTo(100 + 100 * Math.exp(-1), 9);
  });

  it("cannot be lowered by samples in the same millisecond: only time lowers it", () => {
    const ewma = new PeakEwma();
    ewma.observe(300, 5_000);
    for (let i = 0; i < 1_000; i++) ewma.observe(10, 5_000);
    expect(ewma.estimate(5_000)).toBe(300);
  });

  it("forgets a peak by elapsed time, not by how many samples came meanwhile", () => {
    const sparse = new PeakEwma();
    const dense = new PeakEwma();
    sparse.observe(1_000, 0);
    dense.observe(1_000, 0);
    // 30 s of 50 ms replies: one every 10 s, or one every 10 ms.
    for (let t = 10_000; t <= 30_000; t += 10_000) sparse.observe(50, t);
    for (let t = 10; t <= 30_000; t += 10) dense.observe(50, t);
    const expected = 50 + 950 * Math.exp(-30_000 / TAU);
    expect(sparse.estimate(30_000)).toBeCloseTo(expected, 6);
    expect(dense.estimate(30_000)).toBeCloseTo(expected, 6);
    // About 5 % of the spike is left.
    expect(expected).toBeGreaterThan(95);
    expect(expected).toBeLessThan(100);
  });

  it("holds its value while nothing is observed", () => {
    const ewma = new PeakEwma();
    ewma.observe(80, 0);
    expect(ewma.estimate(3_600_000)).toBe(80);
  });

  it("decays faster with a shorter τ", () => {
    const fast = new PeakEwma({ decayMs: 1_000 });
    const slow = new PeakEwma({ decayMs: 100_000 });
    for (const ewma of [fast, slow]) {
      ewma.observe(400, 0);
      ewma.observe(100, 2_000);
    }
    expect(fast.estimate(2_000)).toBeCloseTo(100 + 300 * Math.exp(-2), 9); // ≈ 141
    expect(slow.estimate(2_000)).toBeCloseTo(100 + 300 * Math.exp(-0.02), 9); // ≈ 394
  });

  it("leaves out and counts samples that are not a latency", () => {
    const ewma = new PeakEwma();
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) ewma.observe(bad, 10);
    ewma.observe(5, Number.NaN);
    expect(ewma.rejected).toBe(4);
    expect(ewma.estimate(10)).toBeUndefined();
    expect(ewma.lastObservedAt).toBeUndefined();
    ewma.observe(0, 20);
    expect(ewma.estimate(20)).toBe(0);
    ewma.observe(-3, 30);
    expect(ewma.estimate(30)).toBe(0);
    expect(ewma.lastObservedAt).toBe(20);
    expect(ewma.rejected).toBe(5);
  });

  it("takes a sample reported late as simultaneous with the latest one", () => {
    const ewma = new PeakEwma();
    ewma.observe(100, 10_000);
    ewma.observe(10, 4_000);
    expect(ewma.estimate(10_000)).toBe(100);
    expect(ewma.lastObservedAt).toBe(10_000);
    // The next sample's Δt is measured from the latest time seen, not from the late one.
    ewma.observe(10, 10_000 + TAU);
    expect(ewma.estimate(10_000 + TAU)).toBeCloseTo(10 + 90 * Math.exp(-1), 9);
  });

  it("refuses a decay time that is not a positive number", () => {
    for (const decayMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new PeakEwma({ decayMs })).toThrow(RangeError);
    }
  });
});
