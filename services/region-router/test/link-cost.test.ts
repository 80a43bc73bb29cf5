import { describe, expect, it } from "vitest";
import {
  costChangedBeyond,
  DEFAULT_COST_CONSTANTS,
  DEFAULT_COST_HYSTERESIS,
  type LinkCostInput,
  linkCost,
  setupCost,
} from "../src/model/link-cost.ts";

/** An open, measured, unloaded link: its cost is its latency. */
const BASE: LinkCostInput = {
  up: true,
  latencyMs: 40,
  setupMs: 120,
  open: true,
  relayLoad: 0,
};

const cost = (change: Partial<LinkCostInput>) => linkCost({ ...BASE, ...change });

describe("linkCost", () => {
  it("is the latency alone on an open link to an idle region", () => {
    expect(cost({})).toBe(40);
  });

  it("is infinite on a link that is down, whatever was measured", () => {
    expect(cost({ up: false })).toBe(Number.POSITIVE_INFINITY);
    expect(cost({ up: false, latencyMs: 1, relayLoad: 0 })).toBe(Number.POSITIVE_INFINITY);
  });

  it("counts an unmeasured latency as the default: usable, not preferred", () => {
    expect(DEFAULT_COST_CONSTANTS.defaultLatencyMs).toBe(100);
    expect(cost({ latencyMs: undefined })).toBe(100);
    expect(cost({ latencyMs: Number.NaN })).toBe(100);
    expect(cost({ latencyMs: -5 })).toBe(100);
    expect(cost({ latencyMs: undefined })).toBeGreaterThan(cost({ latencyMs: 80 }));
    expect(cost({ latencyMs: undefined })).toBeLessThan(cost({ latencyMs: 180 }));
  });

  it("adds the setup time only when no connection is open", () => {
    expect(cost({ open: false })).toBe(40 + 120);
    expect(cost({ open: true, setupMs: 10_000 })).toBe(40);
    expect(cost({ open: false, setupMs: 0 })).toBe(40);
  });

  it("counts an unmeasured setup as the default", () => {
    expect(cost({ open: false, setupMs: undefined })).toBe(
      40 + DEFAULT_COST_CONSTANTS.defaultSetupMs,
    );
    expect(cost({ open: false, setupMs: Number.NaN })).toBe(
      40 + DEFAULT_COST_CONSTANTS.defaultSetupMs,
    );
  });

  it("stretches the latency by 1/(1 − ρ) for the far region's load (M/M/1, k = 1)", () => {
    expect(cost({ relayLoad: 0.5 })).toBeCloseTo(80, 9);
    expect(cost({ relayLoad: 0.75 })).toBeCloseTo(160, 9);
    // The setup does not queue at the relay.
    expect(cost({ relayLoad: 0.5, open: false })).toBeCloseTo(80 + 120, 9);
  });

  it("grows with load, monotonically", () => {
    const costs = [0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95].map((relayLoad) => cost({ relayLoad }));
    for (let i = 1; i < costs.length; i++) expect(costs[i]!).toBeGreaterThan(costs[i - 1]!);
  });

  it("caps the load at 0.95, so a saturated relay is costly but finite", () => {
    expect(cost({ relayLoad: 0.95 })).toBeCloseTo(40 * 20, 9);
    expect(cost({ relayLoad: 1 })).toBeCloseTo(40 * 20, 9);
    expect(cost({ relayLoad: 7 })).toBeCloseTo(40 * 20, 9);
    expect(Number.isFinite(cost({ relayLoad: 1 }))).toBe(true);
  });

  it("counts an unknown or negative load as an idle relay", () => {
    expect(cost({ relayLoad: undefined })).toBe(40);
    expect(cost({ relayLoad: Number.NaN })).toBe(40);
    expect(cost({ relayLoad: -0.5 })).toBe(40);
  });

  it("prefers a fast relay at moderate load to a slow direct link", () => {
    const viaBusyRelay = cost({ latencyMs: 30, relayLoad: 0.6 }); // 75
    const direct = cost({ latencyMs: 90, relayLoad: 0 });
    expect(viaBusyRelay).toBeLessThan(direct);
    const viaSaturatedRelay = cost({ latencyMs: 30, relayLoad: 0.95 }); // 600
    expect(viaSaturatedRelay).toBeGreaterThan(direct);
  });

  it("takes other constants", () => {
    const constants = { defaultLatencyMs: 10, defaultSetupMs: 5, queueWeight: 2, maxLoad: 0.5 };
    const input = { up: true, latencyMs: undefined, setupMs: undefined, open: false };
    expect(linkCost({ ...input, relayLoad: 0.9 }, constants)).toBeCloseTo(10 + 5 + 10 * 2 * 1, 9);
  });
});

describe("costChangedBeyond", () => {
  it("re-advertises when nothing was advertised yet", () => {
    expect(costChangedBeyond(undefined, 50)).toBe(true);
    expect(costChangedBeyond(undefined, Number.POSITIVE_INFINITY)).toBe(true);
  });

  it("re-advertises a relative change above the hysteresis, either way, and nothing below", () => {
    expect(DEFAULT_COST_HYSTERESIS).toBe(0.1);
    expect(costChangedBeyond(100, 110)).toBe(false);
    expect(costChangedBeyond(100, 90)).toBe(false);
    expect(costChangedBeyond(100, 111)).toBe(true);
    expect(costChangedBeyond(100, 89)).toBe(true);
    expect(costChangedBeyond(100, 100)).toBe(false);
    expect(costChangedBeyond(100, 130, 0.5)).toBe(false);
    expect(costChangedBeyond(100, 160, 0.5)).toBe(true);
  });

  it("always re-advertises a link going down or coming back", () => {
    const inf = Number.POSITIVE_INFINITY;
    expect(costChangedBeyond(100, inf, 1_000)).toBe(true);
    expect(costChangedBeyond(inf, 100, 1_000)).toBe(true);
    expect(costChangedBeyond(inf, inf)).toBe(false);
  });

  it("treats any move away from zero as a change", () => {
    expect(costChangedBeyond(0, 0.001)).toBe(true);
    expect(costChangedBeyond(0, 0)).toBe(false);
  });
});

describe("setupCost", () => {
  it("is the connect time less one round trip on an established connection", () => {
    expect(setupCost(150, 40)).toBe(110);
  });

  it("is never below zero", () => {
    expect(setupCost(30, 40)).toBe(0);
  });

  it("is undefined when a measurement is unusable", () => {
    expect(setupCost(Number.NaN, 40)).toBeUndefined();
    expect(setupCost(150, -1)).toBeUndefined();
    expect(setupCost(Number.POSITIVE_INFINITY, 40)).toBeUndefined();
  });

  it("feeds linkCost", () => {
    expect(cost({ open: false, setupMs: setupCost(150, 40) })).toBe(40 + 110);
  });
});
