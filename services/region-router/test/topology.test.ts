import { describe, expect, it } from "vitest";
import { buildGraph, computeRoutes, type Link } from "../src/model/routes.ts";
import { chooseNeighbours, type RouteCosts } from "../src/model/topology.ts";

/** Route costs from a plain record; absent regions have no route. */
function costs(byRegion: Record<number, number>): RouteCosts {
  return { costTo: (region) => byRegion[region] };
}

describe("chooseNeighbours", () => {
  it("always keeps the tree links, even with nothing else to choose", () => {
    const choice = chooseNeighbours({ self: 5, parent: 1, children: [9, 7], candidates: [] });
    expect(choice).toEqual({ links: [1, 7, 9], tree: [1, 7, 9], shortcuts: [] });
  });

  it("keeps every tree link beyond maxDegree, and then opens no shortcut", () => {
    const choice = chooseNeighbours({
      self: 1,
      parent: 2,
      children: [3, 4, 5],
      candidates: [{ region: 9, estimatedCostMs: 1 }],
      maxDegree: 2,
    });
    expect(choice.links).toEqual([2, 3, 4, 5]);
    expect(choice.shortcuts).toEqual([]);
  });

  it("opens shortcuts best benefit first, up to maxDegree links in all", () => {
    const choice = chooseNeighbours({
      self: 1,
      parent: 2,
      children: [3],
      candidates: [
        { region: 10, estimatedCostMs: 10 }, // route 30: saves 20
        { region: 11, estimatedCostMs: 5 }, // route 50: saves 45
        { region: 12, estimatedCostMs: 20 }, // route 25: saves 5
        { region: 13, estimatedCostMs: 1 }, // route 40: saves 39
      ],
      routes: costs({ 10: 30, 11: 50, 12: 25, 13: 40 }),
      maxDegree: 4,
    });
    expect(choice.shortcuts).toEqual([
      { region: 11, estimatedCostMs: 5, benefitMs: 45 },
      { region: 13, estimatedCostMs: 1, benefitMs: 39 },
    ]);
    expect(choice.links).toEqual([2, 3, 11, 13]);
  });

  it("opens a shortcut only when it saves the margin (1 ms and 10% by default)", () => {
    const choose = (estimatedCostMs: number, routeCost: number) =>
      chooseNeighbours({
        self: 1,
        children: [],
        candidates: [{ region: 2, estimatedCostMs }],
        routes: costs({ 2: routeCost }),
      }).shortcuts.map((s) => s.region);
    expect(choose(90, 100)).toEqual([2]); // saves 10 = 10%
    expect(choose(91, 100)).toEqual([]); // saves 9 < 10%
    expect(choose(4, 5)).toEqual([2]); // saves 1 ms = 20%
    expect(choose(4.5, 5)).toEqual([]); // saves 0.5 ms < 1 ms
    expect(choose(10, 8)).toEqual([]); // longer than the route
  });

  it("accepts custom margins", () => {
    const choice = chooseNeighbours({
      self: 1,
      children: [],
      candidates: [{ region: 2, estimatedCostMs: 99.5 }],
      routes: costs({ 2: 100 }),
      minBenefitMs: 0.5,
      minBenefitRatio: 0,
    });
    expect(choice.links).toEqual([2]);
  });

  it("keeps an open shortcut while it saves anything, and drops it once the saving is gone", () => {
    const base = { self: 1, children: [], candidates: [{ region: 2, estimatedCostMs: 95 }] };
    expect(chooseNeighbours({ ...base, routes: costs({ 2: 100 }) }).links).toEqual([]);
    expect(chooseNeighbours({ ...base, routes: costs({ 2: 100 }), current: [2] }).links).toEqual([
      2,
    ]);
    // Saves 0.5 ms: below both margins, yet still a saving.
    expect(chooseNeighbours({ ...base, routes: costs({ 2: 95.5 }), current: [2] }).links).toEqual([
      2,
    ]);
    expect(chooseNeighbours({ ...base, routes: costs({ 2: 95 }), current: [2] }).links).toEqual([]);
  });

  it("treats a candidate with no route as the most worth linking to", () => {
    const choice = chooseNeighbours({
      self: 1,
      children: [],
      candidates: [
        { region: 2, estimatedCostMs: 1 },
        { region: 3, estimatedCostMs: 50 },
      ],
      routes: costs({ 2: 100 }),
      maxDegree: 1,
    });
    expect(choice.links).toEqual([3]);
  });

  it("without routes, takes the cheapest candidates, ties to the lower id", () => {
    const choice = chooseNeighbours({
      self: 1,
      children: [],
      candidates: [
        { region: 9, estimatedCostMs: 3 },
        { region: 4, estimatedCostMs: 2 },
        { region: 6, estimatedCostMs: 3 },
        { region: 5, estimatedCostMs: 8 },
      ],
      maxDegree: 3,
    });
    expect(choice.shortcuts.map((s) => s.region)).toEqual([4, 6, 9]);
  });

  it("ignores candidates that are itself, tree neighbours, invalid or repeated", () => {
    const choice = chooseNeighbours({
      self: 1,
      parent: 2,
      children: [],
      candidates: [
        { region: 1, estimatedCostMs: 1 },
        { region: 2, estimatedCostMs: 1 },
        { region: 0, estimatedCostMs: 1 },
        { region: 70_000, estimatedCostMs: 1 },
        { region: 3, estimatedCostMs: Number.NaN },
        { region: 4, estimatedCostMs: -1 },
        { region: 5, estimatedCostMs: 30 },
        { region: 5, estimatedCostMs: 10 },
      ],
      routes: costs({ 5: 40 }),
    });
    expect(choice.shortcuts).toEqual([{ region: 5, estimatedCostMs: 10, benefitMs: 30 }]);
    expect(choice.links).toEqual([2, 5]);
  });

  it("refuses a bad self, tree link or maxDegree", () => {
    expect(() => chooseNeighbours({ self: 0, children: [], candidates: [] })).toThrow(/self/);
    expect(() => chooseNeighbours({ self: 1, parent: 1, children: [], candidates: [] })).toThrow(
      /tree link to 1/,
    );
    expect(() => chooseNeighbours({ self: 1, children: [0], candidates: [] })).toThrow(
      /tree link to 0/,
    );
    expect(() =>
      chooseNeighbours({ self: 1, children: [], candidates: [], maxDegree: 2.5 }),
    ).toThrow(/maxDegree/);
  });

  it("takes a RouteTable as its routes", () => {
    // A chain 1–2–3–4 of 10 ms links: a 12 ms shortcut to 4 saves 18 ms, one to 3 saves 8.
    const links = new Map<number, Link[]>([
      [1, [{ to: 2, cost: 10 }]],
      [
        2,
        [
          { to: 1, cost: 10 },
          { to: 3, cost: 10 },
        ],
      ],
      [
        3,
        [
          { to: 2, cost: 10 },
          { to: 4, cost: 10 },
        ],
      ],
      [4, [{ to: 3, cost: 10 }]],
    ]);
    const routes = computeRoutes(buildGraph(links), 1);
    const choice = chooseNeighbours({
      self: 1,
      parent: 2,
      children: [],
      candidates: [
        { region: 3, estimatedCostMs: 12 },
        { region: 4, estimatedCostMs: 12 },
      ],
      routes,
      maxDegree: 2,
    });
    expect(choice.shortcuts).toEqual([{ region: 4, estimatedCostMs: 12, benefitMs: 18 }]);
  });
});
