/**
 * The region router's model over a simulated hierarchy of 10,000 regions on a sphere: a tree
 * (branching <= 6) plus shortcuts chosen by `chooseNeighbours` from each region's 30 nearest
 * regions, at most 8 links per region, link costs = true latencies (great-circle round trip at
 * 2/3 c, plus up to 4% cable detour and up to 0.5 ms per link). Every region advertises its links
 * into a LinkStateDb, and routes are computed over its graph. Prints, beside their targets:
 *  - the time to compute one region's route table (median over several regions);
 *  - a route table's memory (its typed arrays, and the measured heap growth per retained table);
 *  - links per region;
 *  - stretch: route cost over the best possible cost in a full mesh of true latencies, over
 *    sampled (source, destination) pairs, median and p99 (and the tree alone, for comparison);
 *  - link-state messages caused by one link failure until every region holds both new adverts.
 *
 *   node --conditions=@entente/source test/bench/router.bench.ts
 *   (BENCH_REGIONS=10000, BENCH_PAIRS=2000, BENCH_SEED=1)
 */

import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { seededRandom } from "@entente/testkit";
import { LinkStateDb } from "../../services/region-router/src/model/link-state.ts";
import {
  buildGraph,
  computeRoutes,
  type Graph,
  type Link,
  type RouteTable,
  stabilize,
} from "../../services/region-router/src/model/routes.ts";
import { benchRelayHops } from "./router-relay.ts";
import {
  buildNetwork,
  buildTree,
  type FloodResult,
  fullMeshBestMs,
  type Network,
  nearestRegions,
  placeRegions,
  simulateLinkFailure,
  type World,
} from "./router-sim.ts";
import { percentile } from "./stats.ts";

const REGIONS = Number(process.env.BENCH_REGIONS ?? 10_000);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 2_000);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const BRANCHING = 6;
const MAX_DEGREE = 8;
const NEAREST = 30;
const TIMED_SOURCES = 21;
const RETAINED_TABLES = 50;
const FAILURES = 5;
const FLAP_SOURCES = 9;

const TARGET_TABLE_MS = 100;
const TARGET_MEDIAN_STRETCH = 1.2;

// A full collection before and after measuring memory makes the heap figures mean something.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

function timed<T>(what: () => T): { result: T; ms: number } {
  const started = performance.now();
  const result = what();
  return { result, ms: performance.now() - started };
}

function graphOfTree(world: World, parentOf: Int32Array, network: Network): Graph {
  const links = new Map<number, Link[]>();
  for (let region = 1; region <= world.count; region++) links.set(region, []);
  for (let region = 1; region <= world.count; region++) {
    const parent = parentOf[region]!;
    if (parent === 0) continue;
    const at = network.neighbours[region]!.indexOf(parent);
    const cost = network.costs[region]![at]!;
    links.get(region)!.push({ to: parent, cost });
    links.get(parent)!.push({ to: region, cost });
  }
  return buildGraph(links);
}

/** The same links, each cost moved by up to ±5% (the same move both ways). */
function wobbledGraph(network: Network, random: () => number): Graph {
  const factor = new Map<string, number>();
  const links = new Map<number, Link[]>();
  for (let region = 1; region <= network.count; region++) {
    links.set(
      region,
      network.neighbours[region]!.map((to, i) => {
        const key = region < to ? `${region}-${to}` : `${to}-${region}`;
        let move = factor.get(key);
        if (move === undefined) {
          move = 1 + 0.1 * (random() - 0.5);
          factor.set(key, move);
        }
        return { to, cost: network.costs[region]![i]! * move };
      }),
    );
  }
  return buildGraph(links);
}

/**
 * Heap and array-buffer growth per route table, with the tables kept alive. Array buffers are
 * released only after a collection and a turn of the event loop, hence the settling.
 */
async function measureTableBytes(graph: Graph, sources: number[]): Promise<number> {
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      collectGarbage();
      await sleep(10);
    }
  };
  await settle();
  const before = process.memoryUsage();
  const retained: RouteTable[] = [];
  for (let i = 0; i < RETAINED_TABLES; i++) {
    retained.push(computeRoutes(graph, sources[i % sources.length]!));
  }
  await settle();
  const after = process.memoryUsage();
  const grown = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  return grown / retained.length;
}

interface StretchFigures {
  median: number;
  p99: number;
  max: number;
}

function stretchOf(ratios: number[]): StretchFigures {
  const sorted = [...ratios].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1)! };
}

async function main(): Promise<void> {
  const random = seededRandom(SEED);
  console.log(
    `region router benchmark: ${REGIONS} regions, branching <= ${BRANCHING}, ` +
      `<= ${MAX_DEGREE} links per region, seed ${SEED}\n`,
  );

  const world = placeRegions(REGIONS, random);
  const tree = timed(() => buildTree(world, 1, BRANCHING));
  const nearest = timed(() => nearestRegions(world, NEAREST));
  const network = timed(() => buildNetwork(world, tree.result, nearest.result, MAX_DEGREE, random));
  const db = new LinkStateDb();
  const advertised = timed(() => {
    for (let region = 1; region <= REGIONS; region++) {
      const verdict = db.apply(network.result.advert(region, 1), 0);
      if (verdict !== "new") throw new Error(`advert of ${region}: ${JSON.stringify(verdict)}`);
    }
    return db.graph();
  });
  const graph = advertised.result;
  console.log(
    `setup: tree ${tree.ms.toFixed(0)} ms, ${NEAREST} nearest ${nearest.ms.toFixed(0)} ms, ` +
      `shortcuts ${network.ms.toFixed(0)} ms, link-state db + graph ${advertised.ms.toFixed(0)} ms`,
  );

  // Links per region.
  const degrees = Array.from({ length: REGIONS }, (_, i) => network.result.degree(i + 1));
  const meanDegree = degrees.reduce((a, b) => a + b, 0) / REGIONS;
  const maxDegree = Math.max(...degrees);
  const treeDepth = (() => {
    let deepest = 0;
    for (let region = 1; region <= REGIONS; region++) {
      let depth = 0;
      for (let at = region; tree.result.parent[at] !== 0; at = tree.result.parent[at]!) depth++;
      deepest = Math.max(deepest, depth);
    }
    return deepest;
  })();

  // Time of one route table.
  const sources = Array.from({ length: TIMED_SOURCES }, () => 1 + Math.floor(random() * REGIONS));
  for (const source of sources.slice(0, 3)) computeRoutes(graph, source); // warm-up
  const tableTimes = sources.map((source) => timed(() => computeRoutes(graph, source)).ms);
  const tableMs = median(tableTimes);

  // Memory of a route table.
  const sample = computeRoutes(graph, sources[0]!);
  const arrayBytes = sample.arrayBytes;
  const measuredBytes = await measureTableBytes(graph, sources);

  // Route flapping: every link's cost moves by up to ±5%; next hops that change, with and
  // without the hysteresis, and the time `stabilize` takes.
  const wobbled = wobbledGraph(network.result, random);
  const flapping = sources.slice(0, FLAP_SOURCES).map((source) => {
    const previous = computeRoutes(graph, source);
    const next = computeRoutes(wobbled, source);
    const bare = stabilize(previous, next, 0).changed.length;
    const damped = timed(() => stabilize(previous, next));
    return { bare, damped: damped.result.changed.length, ms: damped.ms };
  });

  // Stretch over sampled pairs.
  const treeGraph = graphOfTree(world, tree.result.parent, network.result);
  const stretchSources = Math.max(1, Math.round(Math.sqrt(PAIRS)));
  const perSource = Math.ceil(PAIRS / stretchSources);
  const ratios: number[] = [];
  const treeRatios: number[] = [];
  let unreachable = 0;
  const stretchTime = timed(() => {
    for (let s = 0; s < stretchSources; s++) {
      const source = 1 + Math.floor(random() * REGIONS);
      const routes = computeRoutes(graph, source);
      const treeRoutes = computeRoutes(treeGraph, source);
      for (let d = 0; d < perSource && ratios.length + unreachable < PAIRS; d++) {
        let destination = 1 + Math.floor(random() * REGIONS);
        while (destination === source) destination = 1 + Math.floor(random() * REGIONS);
        const best = fullMeshBestMs(world, source, destination);
        const chosen = routes.costTo(destination);
        if (chosen === undefined) {
          unreachable++;
          continue;
        }
        ratios.push(chosen / best);
        treeRatios.push(treeRoutes.costTo(destination)! / best);
      }
    }
  });
  const stretch = stretchOf(ratios);
  const treeStretch = stretchOf(treeRatios);

  // Flooding after link failures: a tree link and shortcuts, picked at random.
  const failures: Array<{ a: number; b: number; kind: string; result: FloodResult }> = [];
  const floodTime = timed(() => {
    while (failures.length < FAILURES) {
      const a = 1 + Math.floor(random() * REGIONS);
      const links = network.result.neighbours[a]!;
      const b = links[Math.floor(random() * links.length)]!;
      const isTree = tree.result.parent[a] === b || tree.result.parent[b] === a;
      if (failures.length === 0 && !isTree) continue;
      if (failures.length > 0 && isTree) continue;
      const result = simulateLinkFailure(network.result, a, b);
      failures.push({ a, b, kind: isTree ? "tree link" : "shortcut", result });
    }
  });
  const undirectedLinks = degrees.reduce((a, b) => a + b, 0) / 2;

  // Report.
  const fmt = (n: number, digits = 0) =>
    n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const rows: Array<[string, string, string, string]> = [];
  const verdict = (met: boolean) => (met ? "met" : "NOT MET");
  rows.push([
    "route table, one region (median of 21)",
    `${tableMs.toFixed(2)} ms (min ${Math.min(...tableTimes).toFixed(2)}, max ${Math.max(...tableTimes).toFixed(2)})`,
    `< ${TARGET_TABLE_MS} ms`,
    verdict(tableMs < TARGET_TABLE_MS),
  ]);
  rows.push([
    "route table memory, typed arrays",
    `${fmt(arrayBytes)} bytes (${(arrayBytes / REGIONS).toFixed(0)} per region)`,
    "",
    "",
  ]);
  rows.push([
    `route table memory, measured (${RETAINED_TABLES} kept)`,
    `${fmt(measuredBytes)} bytes per table`,
    "",
    "",
  ]);
  rows.push([
    "links per region",
    `mean ${meanDegree.toFixed(2)}, max ${maxDegree}`,
    `<= ${MAX_DEGREE}`,
    verdict(maxDegree <= MAX_DEGREE),
  ]);
  rows.push([
    `stretch vs full mesh (${ratios.length} pairs)`,
    `median ${stretch.median.toFixed(3)}, p99 ${stretch.p99.toFixed(3)}, max ${stretch.max.toFixed(2)}`,
    `median < ${TARGET_MEDIAN_STRETCH}`,
    verdict(stretch.median < TARGET_MEDIAN_STRETCH && unreachable === 0),
  ]);
  rows.push([
    "  the tree alone, same pairs",
    `median ${treeStretch.median.toFixed(3)}, p99 ${treeStretch.p99.toFixed(3)}, max ${treeStretch.max.toFixed(2)}`,
    "",
    "",
  ]);
  const sum = (pick: (f: (typeof flapping)[number]) => number) =>
    flapping.reduce((total, f) => total + pick(f), 0);
  rows.push([
    `next hops moved by ±5% cost noise (${FLAP_SOURCES} tables)`,
    `${fmt(sum((f) => f.bare))} without hysteresis, ${fmt(sum((f) => f.damped))} with 10%`,
    "",
    "",
  ]);
  rows.push([
    "stabilize, one table (median)",
    `${median(flapping.map((f) => f.ms)).toFixed(2)} ms`,
    "",
    "",
  ]);
  for (const { a, b, kind, result } of failures) {
    rows.push([
      `link failure ${a}–${b} (${kind})`,
      `${fmt(result.deliveriesUntilConverged)} messages until converged ` +
        `(${result.convergedAfterMs.toFixed(0)} ms), ${fmt(result.deliveriesInAll)} in all`,
      "",
      result.regionsUpdated === REGIONS ? "" : `ONLY ${result.regionsUpdated} REGIONS UPDATED`,
    ]);
  }
  const widths = [0, 1, 2, 3].map((c) =>
    Math.max(...[["figure", "value", "target", ""], ...rows].map((row) => row[c]!.length)),
  );
  const print = (row: readonly string[]) =>
    console.log(
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    );
  console.log();
  print(["figure", "value", "target", ""]);
  print(widths.map((w) => "-".repeat(w)));
  for (const row of rows) print(row);
  console.log(
    `\nnetwork: ${fmt(undirectedLinks)} links (${fmt(REGIONS - 1)} tree, ` +
      `${fmt(undirectedLinks - REGIONS + 1)} shortcuts), tree depth ${treeDepth}; ` +
      `graph: ${fmt(graph.targets.length)} directed links`,
  );
  console.log(
    `flooding one advert over every live link costs 2 × links − (regions − 1) = ` +
      `${fmt(2 * (undirectedLinks - 1) - (REGIONS - 1))} deliveries with the failed link down; ` +
      "two adverts twice that",
  );
  console.log(
    "memory: 'typed arrays' is the exact size of a table's cost (Float64), next hop (Uint16) and " +
      "predecessor (Int32) arrays; 'measured' is heapUsed + arrayBuffers growth across building" +
      " them, after forced collections, divided by their number (the shared graph is not counted)",
  );
  if (unreachable > 0) console.log(`NOT MET: ${unreachable} sampled pairs had no route`);
  console.log(
    `stretch: ${fmt(stretchTime.ms)} ms for ${ratios.length} pairs (exact full-mesh best per ` +
      `pair); flooding: ${fmt(floodTime.ms)} ms for ${FAILURES} failures`,
  );
}

await main();
await benchRelayHops();
