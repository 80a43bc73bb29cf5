import { seededRandom } from "@entente/testkit";
import { describe, expect, it } from "vitest";
import {
  buildGraph,
  computeRoutes,
  type Graph,
  type Link,
  linkCost,
  type RouteTable,
  stabilize,
} from "../src/model/routes.ts";

/** Undirected edges as a graph with the same cost both ways. */
function undirected(edges: Array<[number, number, number]>): Graph {
  const links = new Map<number, Link[]>();
  const add = (from: number, to: number, cost: number) => {
    const out = links.get(from) ?? [];
    out.push({ to, cost });
    links.set(from, out);
  };
  for (const [a, b, cost] of edges) {
    add(a, b, cost);
    add(b, a, cost);
  }
  return buildGraph(links);
}

function randomGraph(nodes: number, edgesPerNode: number, seed: number): Graph {
  const random = seededRandom(seed);
  const links = new Map<number, Link[]>();
  for (let from = 1; from <= nodes; from++) {
    const out = new Map<number, number>();
    while (out.size < edgesPerNode) {
      const to = 1 + Math.floor(random() * nodes);
      if (to !== from) out.set(to, Math.round(random() * 100) / 4);
    }
    links.set(
      from,
      [...out].map(([to, cost]) => ({ to, cost })),
    );
  }
  return buildGraph(links);
}

/** Bellman-Ford: slow and obviously right. */
function referenceCosts(graph: Graph, source: number): Map<number, number> {
  const cost = new Map<number, number>([[source, 0]]);
  for (let round = 0; round < graph.regions.length; round++) {
    let changed = false;
    for (let node = 0; node < graph.regions.length; node++) {
      const from = cost.get(graph.regions[node]!);
      if (from === undefined) continue;
      for (let i = graph.offsets[node]!; i < graph.offsets[node + 1]!; i++) {
        const to = graph.regions[graph.targets[i]!]!;
        const candidate = from + graph.costs[i]!;
        if (candidate < (cost.get(to) ?? Number.POSITIVE_INFINITY)) {
          cost.set(to, candidate);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  return cost;
}

function pathCost(graph: Graph, path: number[]): number {
  let total = 0;
  for (let i = 1; i < path.length; i++) {
    const cost = linkCost(graph, path[i - 1]!, path[i]!);
    if (cost === undefined) throw new Error(`no link ${path[i - 1]}→${path[i]}`);
    total += cost;
  }
  return total;
}

describe("buildGraph", () => {
  it("indexes regions ascending and keeps each region's links sorted by target", () => {
    const graph = buildGraph(
      new Map([
        [
          9,
          [
            { to: 7, cost: 1 },
            { to: 3, cost: 2 },
          ],
        ],
        [3, [{ to: 9, cost: 2 }]],
      ]),
    );
    expect([...graph.regions]).toEqual([3, 7, 9]);
    expect(graph.indexOf[7]).toBe(1);
    expect(graph.indexOf[8]).toBe(-1);
    expect(linkCost(graph, 9, 3)).toBe(2);
    expect(linkCost(graph, 9, 7)).toBe(1);
    expect(linkCost(graph, 7, 9)).toBeUndefined();
    const nine = graph.indexOf[9]!;
    const targets = [...graph.targets.subarray(graph.offsets[nine]!, graph.offsets[nine + 1]!)];
    expect(targets.map((t) => graph.regions[t])).toEqual([3, 7]);
  });

  it("refuses negative or non-finite costs and ids outside 1..65535", () => {
    expect(() => buildGraph(new Map([[1, [{ to: 2, cost: -1 }]]]))).toThrow(/cost -1/);
    expect(() => buildGraph(new Map([[1, [{ to: 2, cost: Number.NaN }]]]))).toThrow(/cost NaN/);
    expect(() => buildGraph(new Map([[1, [{ to: 65_536, cost: 1 }]]]))).toThrow(/65536/);
    expect(() => buildGraph(new Map([[0, []]]))).toThrow(/0 is not a region id/);
  });
});

describe("computeRoutes", () => {
  //   1 —1— 2 —1— 3
  //   |           |
  //   5 ———— 4 —1—┘     (1–5: 4, 5–4: 1)
  const graph = undirected([
    [1, 2, 1],
    [2, 3, 1],
    [3, 4, 1],
    [1, 5, 4],
    [5, 4, 1],
  ]);

  it("finds the cheapest cost, next hop and path to every reachable region", () => {
    const table = computeRoutes(graph, 1);
    expect(table.get(1)).toEqual({ cost: 0, nextHop: 1 });
    expect(table.get(3)).toEqual({ cost: 2, nextHop: 2 });
    expect(table.get(4, { withPath: true })).toEqual({ cost: 3, nextHop: 2, path: [1, 2, 3, 4] });
    // 5 is 4 away directly and 4 away through 2, 3, 4: equal, so the lower next hop (2) wins.
    expect(table.get(5)).toEqual({ cost: 4, nextHop: 2 });
    expect(table.pathTo(5)).toEqual([1, 2, 3, 4, 5]);
    expect(table.destinations()).toEqual([1, 2, 3, 4, 5]);
  });

  it("relays through a cheaper path instead of a costly direct link", () => {
    const costly = undirected([
      [1, 2, 10],
      [1, 3, 1],
      [3, 2, 1],
    ]);
    const table = computeRoutes(costly, 1);
    expect(table.get(2, { withPath: true })).toEqual({ cost: 2, nextHop: 3, path: [1, 3, 2] });
  });

  it("leaves unreachable destinations out", () => {
    const split = undirected([
      [1, 2, 1],
      [3, 4, 1],
    ]);
    const table = computeRoutes(split, 1);
    expect(table.get(3)).toBeUndefined();
    expect(table.has(4)).toBe(false);
    expect(table.pathTo(4)).toBeUndefined();
    expect(table.costTo(9)).toBeUndefined();
    expect(table.destinations()).toEqual([1, 2]);
  });

  it("follows link direction", () => {
    const oneWay = buildGraph(new Map([[1, [{ to: 2, cost: 1 }]]]));
    expect(computeRoutes(oneWay, 1).costTo(2)).toBe(1);
    expect(computeRoutes(oneWay, 2).costTo(1)).toBeUndefined();
  });

  it("reaches only itself from a source that is not in the graph", () => {
    const table = computeRoutes(graph, 42);
    expect(table.get(42, { withPath: true })).toEqual({ cost: 0, nextHop: 42, path: [42] });
    expect(table.destinations()).toEqual([42]);
    expect(table.get(1)).toBeUndefined();
  });

  it("breaks cost ties by the lower next hop, whatever the ids' order in the input", () => {
    // Four equal paths 1→{9,4,7,6}→2, given in scrambled order.
    const diamond = undirected([
      [1, 9, 1],
      [9, 2, 1],
      [1, 7, 1],
      [7, 2, 1],
      [1, 4, 1],
      [4, 2, 1],
      [1, 6, 1],
      [6, 2, 1],
    ]);
    expect(computeRoutes(diamond, 1).get(2, { withPath: true })).toEqual({
      cost: 2,
      nextHop: 4,
      path: [1, 4, 2],
    });
  });

  it("breaks ties consistently across zero-cost links", () => {
    // 1→5→3 and 1→2→3 cost the same; 3→4 is free; 4 must inherit 3's next hop (2).
    const zero = undirected([
      [1, 5, 1],
      [5, 3, 0],
      [1, 2, 0],
      [2, 3, 1],
      [3, 4, 0],
    ]);
    const table = computeRoutes(zero, 1);
    expect(table.get(3)).toEqual({ cost: 1, nextHop: 2 });
    expect(table.get(4)).toEqual({ cost: 1, nextHop: 2 });
  });

  it("never routes a source back to itself over zero-cost links to lower ids", () => {
    // Loopback links can measure 0 ms: 3→2→3 costs 0, the same as staying at 3, and 2 < 3.
    const line = undirected([
      [3, 2, 0],
      [2, 1, 0],
    ]);
    const table = computeRoutes(line, 3);
    expect(table.get(3, { withPath: true })).toEqual({ cost: 0, nextHop: 3, path: [3] });
    expect(table.get(1, { withPath: true })).toEqual({ cost: 0, nextHop: 2, path: [3, 2, 1] });
  });

  it("agrees with Bellman-Ford on random graphs, and every path costs what the table says", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = randomGraph(60, 3, seed);
      for (const source of [1, 17, 60]) {
        const table = computeRoutes(random, source);
        const reference = referenceCosts(random, source);
        expect(table.destinations()).toEqual([...reference.keys()].sort((a, b) => a - b));
        for (const [destination, cost] of reference) {
          expect(table.costTo(destination)).toBeCloseTo(cost, 9);
          const path = table.pathTo(destination)!;
          expect(path[0]).toBe(source);
          expect(path.at(-1)).toBe(destination);
          expect(pathCost(random, path)).toBeCloseTo(cost, 9);
          if (destination !== source) expect(table.nextHopTo(destination)).toBe(path[1]);
        }
      }
    }
  });

  it("computes one table over 10,000 regions and 40,000 links well under 100 ms", () => {
    const big = randomGraph(10_000, 4, 7);
    expect(big.targets.length).toBe(40_000);
    computeRoutes(big, 1); // warm up
    const times: number[] = [];
    let table: RouteTable | undefined;
    for (const source of [2, 3, 5, 8, 13]) {
      const started = performance.now();
      table = computeRoutes(big, source);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    expect(times[2]).toBeLessThan(100);
    expect(table!.destinations().length).toBeGreaterThan(9_500);
    expect(table!.arrayBytes).toBe(10_000 * (8 + 2 + 4));
  });
});

describe("stabilize", () => {
  // 1 reaches 4 through 2 or through 3.
  const square = (via2: number, via3: number) =>
    undirected([
      [1, 2, via2],
      [2, 4, 5],
      [1, 3, via3],
      [3, 4, 5],
    ]);

  it("reports every destination as changed when there is no previous table", () => {
    const next = computeRoutes(square(1, 2), 1);
    expect(stabilize(undefined, next)).toEqual({ table: next, changed: [1, 2, 3, 4] });
  });

  it("keeps the previous next hop while it is within the hysteresis of the new best", () => {
    const before = computeRoutes(square(1, 2), 1);
    expect(before.nextHopTo(4)).toBe(2);
    // Through 2 now costs 6.5, through 3 costs 6: 6.5 <= 1.1 × 6, so 2 stays.
    const after = computeRoutes(square(1.5, 1), 1);
    expect(after.nextHopTo(4)).toBe(3);
    const { table, changed } = stabilize(before, after);
    expect(changed).toEqual([]);
    expect(table.get(4, { withPath: true })).toEqual({ cost: 6.5, nextHop: 2, path: [1, 2, 4] });
    // Destinations whose best did not move keep the new table's figures.
    expect(table.get(3)).toEqual({ cost: 1, nextHop: 3 });
  });

  it("moves to the new best once the old next hop is beyond the hysteresis", () => {
    const before = computeRoutes(square(1, 2), 1);
    // Through 2: 8, through 3: 6; 8 > 6.6.
    const after = computeRoutes(square(3, 1), 1);
    const { table, changed } = stabilize(before, after);
    expect(changed).toEqual([4]);
    expect(table.get(4)).toEqual({ cost: 6, nextHop: 3 });
  });

  it("honours a custom hysteresis, zero included", () => {
    const before = computeRoutes(square(1, 2), 1);
    const after = computeRoutes(square(1.5, 1), 1);
    expect(stabilize(before, after, 0).table.nextHopTo(4)).toBe(3);
    expect(stabilize(before, after, 0.5).table.nextHopTo(4)).toBe(2);
    expect(() => stabilize(before, after, -0.1)).toThrow(RangeError);
  });

  it("drops the previous next hop when its link is gone", () => {
    const before = computeRoutes(square(1, 2), 1);
    const after = computeRoutes(
      undirected([
        [1, 3, 2],
        [3, 4, 5],
        [2, 4, 5],
      ]),
      1,
    );
    const { table, changed } = stabilize(before, after);
    expect(table.get(4)).toEqual({ cost: 7, nextHop: 3 });
    expect(changed).toEqual([2, 4]);
  });

  it("never keeps a next hop whose own best route comes back through us", () => {
    // Before: 1→2→4. After: 2–4 is gone; 2 reaches 4 only through 1 (2→1→3→4), which would loop.
    const before = computeRoutes(square(1, 2), 1);
    const after = computeRoutes(
      undirected([
        [1, 2, 0.1],
        [1, 3, 2],
        [3, 4, 5],
      ]),
      1,
    );
    const { table } = stabilize(before, after, 10);
    expect(table.get(4, { withPath: true })).toEqual({ cost: 7, nextHop: 3, path: [1, 3, 4] });
  });

  it("reports destinations that became reachable or unreachable", () => {
    const before = computeRoutes(
      undirected([
        [1, 2, 1],
        [2, 3, 1],
      ]),
      1,
    );
    const after = computeRoutes(
      undirected([
        [1, 2, 1],
        [2, 4, 1],
      ]),
      1,
    );
    const { table, changed } = stabilize(before, after);
    expect(changed).toEqual([3, 4]);
    expect(table.has(3)).toBe(false);
    expect(table.get(4)).toEqual({ cost: 2, nextHop: 2 });
  });

  it("keeps a route stable across repeated small wobbles", () => {
    let previous = computeRoutes(square(1, 1.2), 1);
    expect(previous.nextHopTo(4)).toBe(2);
    for (const [via2, via3] of [
      [1.2, 1],
      [1, 1.1],
      [1.3, 1],
      [1.1, 1.05],
    ] as const) {
      const { table, changed } = stabilize(previous, computeRoutes(square(via2, via3), 1));
      expect(table.nextHopTo(4)).toBe(2);
      expect(changed).toEqual([]);
      previous = table;
    }
  });

  it("forwards hop by hop without loops when every region stabilizes its own table", () => {
    const regions = 40;
    for (const seed of [11, 12, 13]) {
      const random = seededRandom(seed);
      const edges: Array<[number, number, number]> = [];
      for (let r = 1; r <= regions; r++) edges.push([r, (r % regions) + 1, 1 + random() * 9]);
      for (let i = 0; i < regions; i++) {
        const a = 1 + Math.floor(random() * regions);
        const b = 1 + Math.floor(random() * regions);
        if (a !== b && !edges.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) {
          edges.push([a, b, 1 + random() * 9]);
        }
      }
      const before = undirected(edges);
      const after = undirected(edges.map(([a, b, cost]) => [a, b, cost * (0.85 + 0.3 * random())]));
      const tables = new Map<number, RouteTable>();
      let kept = 0;
      for (let region = 1; region <= regions; region++) {
        const best = computeRoutes(after, region);
        const { table } = stabilize(computeRoutes(before, region), best);
        for (let d = 1; d <= regions; d++) {
          if (table.nextHopTo(d) !== best.nextHopTo(d)) kept++;
          expect(table.costTo(d)!).toBeLessThanOrEqual(1.1 * best.costTo(d)! + 1e-9);
          expect(pathCost(after, table.pathTo(d)!)).toBeCloseTo(table.costTo(d)!, 9);
        }
        tables.set(region, table);
      }
      expect(kept).toBeGreaterThan(0);
      for (let source = 1; source <= regions; source++) {
        for (let destination = 1; destination <= regions; destination++) {
          let at = source;
          let hops = 0;
          while (at !== destination && hops <= regions) {
            at = tables.get(at)!.nextHopTo(destination)!;
            hops++;
          }
          expect(at).toBe(destination);
        }
      }
    }
  });

  it("refuses tables of different sources", () => {
    const graph = square(1, 2);
    expect(() => stabilize(computeRoutes(graph, 1), computeRoutes(graph, 2))).toThrow(
      /different sources/,
    );
  });
});
