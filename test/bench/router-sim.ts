/**
 * A simulated world of regions for the router benchmark: regions on a sphere, a tree over them,
 * shortcuts chosen by the region router's own topology model, link latencies from great-circle
 * distances, the best possible latency over a full mesh, and link-state flooding after a link
 * failure. Everything is seeded, so runs repeat.
 */

import {
  floodTargets,
  type LinkStateAdvert,
  LinkStateDb,
} from "../../services/region-router/src/model/link-state.ts";
import { chooseNeighbours } from "../../services/region-router/src/model/topology.ts";

const EARTH_RADIUS_KM = 6371;
/** Light in fibre: about two thirds of c. */
const FIBRE_KM_PER_MS = (299_792.458 * 2) / 3 / 1000;
/** Cables do not follow great circles: each link is up to this much longer. */
const ROUTE_INFLATION = 0.04;
/** Equipment and queueing on each link, up to this many ms. */
const LINK_JITTER_MS = 0.5;

/** Regions 1..count as unit vectors (index = region id; index 0 unused). */
export interface World {
  count: number;
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
}

export function placeRegions(count: number, random: () => number): World {
  const world = {
    count,
    x: new Float64Array(count + 1),
    y: new Float64Array(count + 1),
    z: new Float64Array(count + 1),
  };
  for (let region = 1; region <= count; region++) {
    // Uniform on the sphere: z uniform in [-1, 1], longitude uniform.
    const z = 2 * random() - 1;
    const longitude = 2 * Math.PI * random();
    const r = Math.sqrt(1 - z * z);
    world.x[region] = r * Math.cos(longitude);
    world.y[region] = r * Math.sin(longitude);
    world.z[region] = z;
  }
  return world;
}

function dot(world: World, a: number, b: number): number {
  return world.x[a]! * world.x[b]! + world.y[a]! * world.y[b]! + world.z[a]! * world.z[b]!;
}

/** Round trip over the great circle at fibre speed. */
export function geoRttMs(world: World, a: number, b: number): number {
  const angle = Math.acos(Math.min(1, Math.max(-1, dot(world, a, b))));
  return ((angle * EARTH_RADIUS_KM) / FIBRE_KM_PER_MS) * 2;
}

/** A fixed pseudo-random number in [0, 1) per unordered pair and salt. */
function pairNoise(a: number, b: number, salt: number): number {
  const low = Math.min(a, b);
  const high = Math.max(a, b);
  let h = Math.imul(low, 0x9e3779b1) ^ Math.imul(high + salt, 0x85ebca77);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** The true latency of a direct link: never below the great-circle round trip. */
export function latencyMs(world: World, a: number, b: number): number {
  return (
    geoRttMs(world, a, b) * (1 + ROUTE_INFLATION * pairNoise(a, b, 1)) +
    LINK_JITTER_MS * pairNoise(a, b, 2)
  );
}

/** What a region expects of a link it has not opened: the model without the noise. */
export function estimateMs(world: World, a: number, b: number): number {
  return geoRttMs(world, a, b) * (1 + ROUTE_INFLATION / 2) + LINK_JITTER_MS / 2;
}

export interface Tree {
  root: number;
  /** Parent of each region, 0 for the root. */
  parent: Int32Array;
  children: number[][];
}

/**
 * Regions join in order of distance from the root (a geographic breadth-first expansion), each
 * under the nearest region already in the tree that has fewer than `branching` children; so a
 * parent is always nearer the root than its child.
 */
export function buildTree(world: World, root: number, branching: number): Tree {
  const order = Array.from({ length: world.count }, (_, i) => i + 1).sort(
    (a, b) => dot(world, b, root) - dot(world, a, root),
  );
  const parent = new Int32Array(world.count + 1);
  const children: number[][] = Array.from({ length: world.count + 1 }, () => []);
  const open: number[] = [order[0]!];
  for (const region of order.slice(1)) {
    let best = -1;
    let bestAt = -1;
    let bestDot = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < open.length; i++) {
      const d = dot(world, region, open[i]!);
      if (d > bestDot) {
        bestDot = d;
        best = open[i]!;
        bestAt = i;
      }
    }
    parent[region] = best;
    children[best]!.push(region);
    // A full parent leaves the open list (swap-remove keeps this linear).
    if (children[best]!.length >= branching) {
      open[bestAt] = open.at(-1)!;
      open.pop();
    }
    open.push(region);
  }
  return { root: order[0]!, parent, children };
}

/** Each region's k nearest other regions, nearest first. */
export function nearestRegions(world: World, k: number): number[][] {
  const result: number[][] = [[]];
  const ids = new Int32Array(k);
  const dots = new Float64Array(k);
  for (let a = 1; a <= world.count; a++) {
    let size = 0;
    for (let b = 1; b <= world.count; b++) {
      if (b === a) continue;
      const d = dot(world, a, b);
      if (size === k && d <= dots[k - 1]!) continue;
      // Insertion into the sorted top k (largest dot product = nearest first).
      let at = size < k ? size++ : k - 1;
      while (at > 0 && dots[at - 1]! < d) {
        dots[at] = dots[at - 1]!;
        ids[at] = ids[at - 1]!;
        at--;
      }
      dots[at] = d;
      ids[at] = b;
    }
    result.push([...ids.subarray(0, size)]);
  }
  return result;
}

/** Live links between regions, both directions, with their true latency. */
export class Network {
  readonly neighbours: number[][];
  readonly costs: number[][];

  constructor(count: number) {
    this.neighbours = Array.from({ length: count + 1 }, () => []);
    this.costs = Array.from({ length: count + 1 }, () => []);
  }

  get count(): number {
    return this.neighbours.length - 1;
  }

  degree(region: number): number {
    return this.neighbours[region]!.length;
  }

  has(a: number, b: number): boolean {
    return this.neighbours[a]!.includes(b);
  }

  link(a: number, b: number, cost: number): void {
    this.neighbours[a]!.push(b);
    this.costs[a]!.push(cost);
    this.neighbours[b]!.push(a);
    this.costs[b]!.push(cost);
  }

  unlink(a: number, b: number): void {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const at = this.neighbours[from]!.indexOf(to);
      this.neighbours[from]!.splice(at, 1);
      this.costs[from]!.splice(at, 1);
    }
  }

  /** Each region's advert of its live links. */
  advert(region: number, seq: number): LinkStateAdvert {
    return {
      origin: region,
      seq,
      issuedAt: 0,
      links: this.neighbours[region]!.map((to, i) => ({ to, cost: this.costs[region]![i]! })),
    };
  }
}

/** A binary min-heap of (key, value) pairs, duplicates allowed (stale entries skipped by users). */
export class MinHeap {
  #keys: number[] = [];
  #values: number[] = [];

  get size(): number {
    return this.#keys.length;
  }

  clear(): void {
    this.#keys.length = 0;
    this.#values.length = 0;
  }

  push(key: number, value: number): void {
    const keys = this.#keys;
    const values = this.#values;
    let at = keys.length;
    keys.push(key);
    values.push(value);
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[at] = keys[parent]!;
      values[at] = values[parent]!;
      at = parent;
    }
    keys[at] = key;
    values[at] = value;
  }

  /** Removes the smallest entry; read it with topKey/topValue first. */
  topKey(): number {
    return this.#keys[0]!;
  }

  topValue(): number {
    return this.#values[0]!;
  }

  pop(): void {
    const keys = this.#keys;
    const values = this.#values;
    const lastKey = keys.pop()!;
    const lastValue = values.pop()!;
    const size = keys.length;
    if (size === 0) return;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= size) break;
      const child = left + 1 < size && keys[left + 1]! < keys[left]! ? left + 1 : left;
      if (keys[child]! >= lastKey) break;
      keys[at] = keys[child]!;
      values[at] = values[child]!;
      at = child;
    }
    keys[at] = lastKey;
    values[at] = lastValue;
  }
}

/** Route costs from `source` up to `limit` ms over the current network (Dijkstra, cut short). */
export function routeCostsWithin(
  network: Network,
  source: number,
  limit: number,
): Map<number, number> {
  const settled = new Map<number, number>();
  const heap = new MinHeap();
  heap.push(0, source);
  while (heap.size > 0) {
    const cost = heap.topKey();
    const region = heap.topValue();
    heap.pop();
    if (cost > limit) break;
    if (settled.has(region)) continue;
    settled.set(region, cost);
    const neighbours = network.neighbours[region]!;
    const costs = network.costs[region]!;
    for (let i = 0; i < neighbours.length; i++) {
      if (!settled.has(neighbours[i]!)) heap.push(cost + costs[i]!, neighbours[i]!);
    }
  }
  return settled;
}

/**
 * Tree links, then shortcuts: each region in turn (seeded order) asks `chooseNeighbours` which
 * of its nearest regions are worth a direct link, measured against its current routes, and opens
 * those whose other end still has a free slot. Links opened by others count toward its degree.
 */
export function buildNetwork(
  world: World,
  tree: Tree,
  nearest: number[][],
  maxDegree: number,
  random: () => number,
): Network {
  const network = new Network(world.count);
  for (let region = 1; region <= world.count; region++) {
    const parent = tree.parent[region]!;
    if (parent !== 0) network.link(region, parent, latencyMs(world, region, parent));
  }
  const order = Array.from({ length: world.count }, (_, i) => i + 1);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (const self of order) {
    const parent = tree.parent[self]!;
    const treeLinks = new Set([parent, ...tree.children[self]!].filter((r) => r !== 0));
    const openedByOthers = network.neighbours[self]!.filter((r) => !treeLinks.has(r)).length;
    const candidates = nearest[self]!.filter(
      (region) => network.degree(region) < maxDegree && !network.has(self, region),
    ).map((region) => ({ region, estimatedCostMs: estimateMs(world, self, region) }));
    if (candidates.length === 0) continue;
    const limit = 3 * Math.max(...candidates.map((c) => c.estimatedCostMs));
    const known = routeCostsWithin(network, self, limit);
    const choice = chooseNeighbours({
      self,
      parent: parent === 0 ? undefined : parent,
      children: tree.children[self]!,
      candidates,
      routes: { costTo: (region) => known.get(region) },
      maxDegree: Math.max(0, maxDegree - openedByOthers),
    });
    for (const { region } of choice.shortcuts) {
      if (network.degree(region) < maxDegree && network.degree(self) < maxDegree) {
        network.link(self, region, latencyMs(world, self, region));
      }
    }
  }
  return network;
}

/**
 * The cheapest path from s to d when every pair of regions has a direct link (a full mesh of
 * true latencies). Exact: every link costs at least its great-circle round trip, so only regions
 * with geo(s, v) + geo(v, d) below the direct latency can be on a cheaper path; A* over those,
 * guided by the great-circle round trip to d (a lower bound that never overestimates).
 */
export function fullMeshBestMs(world: World, s: number, d: number): number {
  const direct = latencyMs(world, s, d);
  const members = [s, d];
  for (let v = 1; v <= world.count; v++) {
    if (v !== s && v !== d && geoRttMs(world, s, v) + geoRttMs(world, v, d) < direct) {
      members.push(v);
    }
  }
  const toTarget = members.map((v) => geoRttMs(world, v, d));
  const cost = new Float64Array(members.length).fill(Number.POSITIVE_INFINITY);
  const done = new Uint8Array(members.length);
  const heap = new MinHeap();
  cost[0] = 0;
  cost[1] = direct;
  heap.push(toTarget[0]!, 0);
  heap.push(direct, 1);
  while (heap.size > 0) {
    const at = heap.topValue();
    heap.pop();
    if (done[at] === 1) continue;
    if (at === 1) return cost[1]!;
    done[at] = 1;
    for (let next = 1; next < members.length; next++) {
      if (done[next] === 1) continue;
      const candidate = cost[at]! + latencyMs(world, members[at]!, members[next]!);
      if (candidate < cost[next]! && candidate + toTarget[next]! < cost[1]!) {
        cost[next] = candidate;
        heap.push(candidate + toTarget[next]!, next);
      }
    }
  }
  return cost[1]!;
}

export interface FloodResult {
  /** Deliveries (duplicates included) until the last region stored both new adverts. */
  deliveriesUntilConverged: number;
  /** Deliveries until the flood died out. */
  deliveriesInAll: number;
  /** Propagation time until the last region stored both (one-way link latency, no processing). */
  convergedAfterMs: number;
  /** Regions holding both new adverts at the end. */
  regionsUpdated: number;
}

/**
 * The link a–b fails; both ends re-advertise without it and the adverts flood along live links
 * through every region's LinkStateDb, each region passing a new advert to all live neighbours but
 * its sender. Deliveries happen in order of arrival time.
 */
export function simulateLinkFailure(network: Network, a: number, b: number): FloodResult {
  const before = [network.advert(a, 1), network.advert(b, 1)];
  network.unlink(a, b);
  try {
    const dbs: LinkStateDb[] = [];
    for (let region = 0; region <= network.count; region++) {
      const db = new LinkStateDb();
      for (const advert of before) db.apply(advert, 0);
      dbs.push(db);
    }
    const adverts = [network.advert(a, 2), network.advert(b, 2)];
    const holding = new Uint8Array(network.count + 1);
    const events: Array<{ to: number; from: number; advert: number }> = [];
    const heap = new MinHeap();
    const send = (at: number, from: number, to: number, advert: number) => {
      events.push({ to, from, advert });
      heap.push(at, events.length - 1);
    };
    const receive = (at: number, region: number, from: number, advert: number) => {
      if (dbs[region]!.apply(adverts[advert]!, at) !== "new") return false;
      holding[region] = holding[region]! + 1;
      const neighbours = network.neighbours[region]!;
      for (const to of floodTargets(neighbours, from)) {
        const cost = network.costs[region]![neighbours.indexOf(to)]!;
        send(at + cost / 2, region, to, advert);
      }
      return true;
    };
    let complete = 0;
    const target = network.count;
    for (const [advert, origin] of [a, b].entries()) {
      if (receive(0, origin, 0, advert) && holding[origin] === 2) complete++;
    }
    let deliveries = 0;
    let deliveriesUntilConverged = 0;
    let convergedAfterMs = 0;
    while (heap.size > 0) {
      const at = heap.topKey();
      const event = events[heap.topValue()]!;
      heap.pop();
      deliveries++;
      if (receive(at, event.to, event.from, event.advert) && holding[event.to] === 2) {
        complete++;
        if (complete === target) {
          deliveriesUntilConverged = deliveries;
          convergedAfterMs = at;
        }
      }
    }
    return {
      deliveriesUntilConverged: complete === target ? deliveriesUntilConverged : Number.NaN,
      deliveriesInAll: deliveries,
      convergedAfterMs: complete === target ? convergedAfterMs : Number.NaN,
      regionsUpdated: complete,
    };
  } finally {
    network.link(a, b, before[0]!.links.find((link) => link.to === b)!.cost);
  }
}
