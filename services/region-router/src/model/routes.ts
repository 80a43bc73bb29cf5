/**
 * Shortest paths over one region's view of the link-state graph, without I/O or clocks.
 *
 * The graph is compressed (each region's links side by side in typed arrays) so that Dijkstra
 * over 10,000 regions touches a few flat arrays rather than a map per region. A route table keeps
 * one cost, one next hop and one predecessor per region; paths are rebuilt from predecessors on
 * demand instead of being stored for every destination.
 */

/** Region ids are 16-bit; 0 is never a region. */
export const MIN_REGION_ID = 1;
export const MAX_REGION_ID = 65_535;

export function isRegionId(value: unknown): value is number {
  return (
    typeof value === "number" &&
    Number.isInteger(value) &&
    value >= MIN_REGION_ID &&
    value <= MAX_REGION_ID
  );
}

export interface Link {
  to: number;
  cost: number;
}

/** A directed graph of regions. Built once per link-state version and never changed. */
export interface Graph {
  /** Region ids, ascending; a region's position here is its node index. */
  readonly regions: Uint16Array;
  /** Node index by region id (65,536 entries), -1 for a region not in the graph. */
  readonly indexOf: Int32Array;
  /** The links of node i are entries offsets[i] up to offsets[i + 1] of targets and costs. */
  readonly offsets: Uint32Array;
  /** Target node index of each link; within one node, ascending by region id. */
  readonly targets: Uint32Array;
  readonly costs: Float64Array;
}

/**
 * Builds a graph from each region's outgoing links. Regions that only appear as targets are
 * nodes too (with no links of their own).
 */
export function buildGraph(links: ReadonlyMap<number, ReadonlyArray<Link>>): Graph {
  const present = new Uint8Array(MAX_REGION_ID + 1);
  let linkCount = 0;
  for (const [from, out] of links) {
    if (!isRegionId(from)) throw new RangeError(`${from} is not a region id`);
    present[from] = 1;
    for (const { to, cost } of out) {
      if (!isRegionId(to)) throw new RangeError(`link ${from}→${to}: ${to} is not a region id`);
      // Dijkstra is only correct with non-negative costs.
      if (!Number.isFinite(cost) || cost < 0) {
        throw new RangeError(`link ${from}→${to}: cost ${cost} is not finite and >= 0`);
      }
      present[to] = 1;
      linkCount++;
    }
  }
  const indexOf = new Int32Array(MAX_REGION_ID + 1).fill(-1);
  const ids: number[] = [];
  for (let id = MIN_REGION_ID; id <= MAX_REGION_ID; id++) {
    if (present[id] === 1) {
      indexOf[id] = ids.length;
      ids.push(id);
    }
  }
  const regions = Uint16Array.from(ids);
  const offsets = new Uint32Array(ids.length + 1);
  const targets = new Uint32Array(linkCount);
  const costs = new Float64Array(linkCount);
  let at = 0;
  for (let node = 0; node < ids.length; node++) {
    offsets[node] = at;
    const out = [...(links.get(ids[node]!) ?? [])].sort((a, b) => a.to - b.to);
    for (const { to, cost } of out) {
      targets[at] = indexOf[to]!;
      costs[at] = cost;
      at++;
    }
  }
  offsets[ids.length] = at;
  return { regions, indexOf, offsets, targets, costs };
}

export function hasRegion(graph: Graph, region: number): boolean {
  return isRegionId(region) && graph.indexOf[region]! >= 0;
}

/** The cost of the direct link from → to, or undefined when there is none. */
export function linkCost(graph: Graph, from: number, to: number): number | undefined {
  if (!hasRegion(graph, from) || !hasRegion(graph, to)) return undefined;
  const node = graph.indexOf[from]!;
  const target = graph.indexOf[to]!;
  for (let i = graph.offsets[node]!; i < graph.offsets[node + 1]!; i++) {
    if (graph.targets[i] === target) return graph.costs[i]!;
  }
  return undefined;
}

export interface Route {
  cost: number;
  /** The first region on the way (the destination itself for a direct link; the source for itself). */
  nextHop: number;
  /** Source to destination, both included; only when asked for. */
  path?: number[];
}

const NO_HOP = 0;
const NO_NODE = -1;

/** The routes from one source. Unreachable destinations are absent. */
export class RouteTable {
  readonly graph: Graph;
  readonly source: number;
  readonly #cost: Float64Array;
  readonly #nextHop: Uint16Array;
  readonly #predecessor: Int32Array;
  /** Destinations (node index) kept on another next hop by `stabilize`: that hop's own table. */
  readonly #via: ReadonlyMap<number, RouteTable>;

  constructor(
    graph: Graph,
    source: number,
    cost: Float64Array,
    nextHop: Uint16Array,
    predecessor: Int32Array,
    via: ReadonlyMap<number, RouteTable> = new Map(),
  ) {
    this.graph = graph;
    this.source = source;
    this.#cost = cost;
    this.#nextHop = nextHop;
    this.#predecessor = predecessor;
    this.#via = via;
  }

  #node(destination: number): number {
    if (!hasRegion(this.graph, destination)) return NO_NODE;
    const node = this.graph.indexOf[destination]!;
    return this.#nextHop[node] === NO_HOP ? NO_NODE : node;
  }

  has(destination: number): boolean {
    return this.#node(destination) !== NO_NODE;
  }

  costTo(destination: number): number | undefined {
    const node = this.#node(destination);
    return node === NO_NODE ? undefined : this.#cost[node]!;
  }

  nextHopTo(destination: number): number | undefined {
    const node = this.#node(destination);
    return node === NO_NODE ? undefined : this.#nextHop[node]!;
  }

  get(destination: number, options: { withPath?: boolean } = {}): Route | undefined {
    const node = this.#node(destination);
    if (node === NO_NODE) return undefined;
    const route: Route = { cost: this.#cost[node]!, nextHop: this.#nextHop[node]! };
    if (options.withPath) route.path = this.pathTo(destination);
    return route;
  }

  /** Source to destination, both included, or undefined when unreachable. */
  pathTo(destination: number): number[] | undefined {
    const node = this.#node(destination);
    if (node === NO_NODE) return undefined;
    const via = this.#via.get(node);
    if (via !== undefined) return [this.source, ...(via.pathTo(destination) ?? [])];
    const path: number[] = [];
    for (let at = node; at !== NO_NODE; at = this.#predecessor[at]!) {
      path.push(this.graph.regions[at]!);
    }
    return path.reverse();
  }

  /** Reachable destinations (the source included), ascending. */
  destinations(): number[] {
    const reachable: number[] = [];
    for (let node = 0; node < this.#nextHop.length; node++) {
      if (this.#nextHop[node] !== NO_HOP) reachable.push(this.graph.regions[node]!);
    }
    return reachable;
  }

  /** Bytes held by this table's own arrays (the graph is shared and not counted). */
  get arrayBytes(): number {
    return this.#cost.byteLength + this.#nextHop.byteLength + this.#predecessor.byteLength;
  }

  /** A copy with some destinations moved to a neighbour's route (`stabilize` builds these). */
  withKept(
    kept: ReadonlyArray<{ destination: number; cost: number; via: RouteTable }>,
  ): RouteTable {
    const cost = this.#cost.slice();
    const nextHop = this.#nextHop.slice();
    const via = new Map(this.#via);
    for (const keep of kept) {
      const node = this.graph.indexOf[keep.destination]!;
      cost[node] = keep.cost;
      nextHop[node] = keep.via.source;
      via.set(node, keep.via);
    }
    return new RouteTable(this.graph, this.source, cost, nextHop, this.#predecessor, via);
  }
}

/**
 * Dijkstra from `source` with a binary heap. Ties are broken by the lower next-hop id: labels are
 * compared as (cost, next hop), an order that extending a path preserves, so the result is the
 * same whatever order links are read in. Costs tie only when exactly equal as floats. A source
 * absent from the graph reaches only itself.
 */
export function computeRoutes(graph: Graph, source: number): RouteTable {
  if (!isRegionId(source)) throw new RangeError(`${source} is not a region id`);
  const n = graph.regions.length;
  const cost = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const nextHop = new Uint16Array(n);
  const predecessor = new Int32Array(n).fill(NO_NODE);
  const start = graph.indexOf[source]!;
  if (start === NO_NODE) return isolated(source);

  const heap = new LabelHeap(cost, nextHop);
  cost[start] = 0;
  nextHop[start] = source;
  heap.upsert(start);
  const { offsets, targets, costs, regions } = graph;
  while (heap.size > 0) {
    const node = heap.pop();
    const base = cost[node]!;
    const viaHop = nextHop[node]!;
    for (let i = offsets[node]!; i < offsets[node + 1]!; i++) {
      const target = targets[i]!;
      // The source's label (0, itself) is final. A zero-cost way back through a neighbour with a
      // lower id would otherwise win the next-hop tie and make the source its own successor.
      if (target === start) continue;
      const candidate = base + costs[i]!;
      const hop = node === start ? regions[target]! : viaHop;
      const known = cost[target]!;
      if (candidate < known || (candidate === known && hop < nextHop[target]!)) {
        cost[target] = candidate;
        nextHop[target] = hop;
        predecessor[target] = node;
        heap.upsert(target);
      }
    }
  }
  return new RouteTable(graph, source, cost, nextHop, predecessor);
}

function isolated(source: number): RouteTable {
  const graph = buildGraph(new Map([[source, []]]));
  return new RouteTable(
    graph,
    source,
    Float64Array.of(0),
    Uint16Array.of(source),
    Int32Array.of(NO_NODE),
  );
}

/** A binary min-heap of node indices keyed by (cost, next hop), with decrease-key. */
class LabelHeap {
  readonly #cost: Float64Array;
  readonly #hop: Uint16Array;
  readonly #nodes: Int32Array;
  /** Position of each node in #nodes, -1 when not queued. */
  readonly #position: Int32Array;
  size = 0;

  constructor(cost: Float64Array, hop: Uint16Array) {
    this.#cost = cost;
    this.#hop = hop;
    this.#nodes = new Int32Array(cost.length);
    this.#position = new Int32Array(cost.length).fill(-1);
  }

  #less(a: number, b: number): boolean {
    const ca = this.#cost[a]!;
    const cb = this.#cost[b]!;
    return ca < cb || (ca === cb && this.#hop[a]! < this.#hop[b]!);
  }

  /** Adds a node, or moves it up after its label decreased. */
  upsert(node: number): void {
    let at = this.#position[node]!;
    if (at < 0) {
      at = this.size++;
      this.#nodes[at] = node;
    }
    while (at > 0) {
      const parentAt = (at - 1) >> 1;
      const parent = this.#nodes[parentAt]!;
      if (!this.#less(node, parent)) break;
      this.#nodes[at] = parent;
      this.#position[parent] = at;
      at = parentAt;
    }
    this.#nodes[at] = node;
    this.#position[node] = at;
  }

  pop(): number {
    const top = this.#nodes[0]!;
    this.#position[top] = -1;
    const last = this.#nodes[--this.size]!;
    if (this.size > 0) {
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        if (left >= this.size) break;
        const right = left + 1;
        const child =
          right < this.size && this.#less(this.#nodes[right]!, this.#nodes[left]!) ? right : left;
        const childNode = this.#nodes[child]!;
        if (!this.#less(childNode, last)) break;
        this.#nodes[at] = childNode;
        this.#position[childNode] = at;
        at = child;
      }
      this.#nodes[at] = last;
      this.#position[last] = at;
    }
    return top;
  }
}

export interface Stabilized {
  table: RouteTable;
  /** Destinations whose next hop differs from the previous table's (gained, lost or moved). */
  changed: number[];
}

/**
 * Damps route flapping between near-equal paths. For each destination whose best next hop
 * changed, the previous next hop is kept when, in the new graph:
 *  - the link to it is still there,
 *  - it still reaches the destination and is strictly closer to it than we are (downstream: then
 *    its own route cannot lead back through us, so every region applying this rule to the same
 *    database forwards without loops),
 *  - the cost through it (link + its own best cost) is within (1 + hysteresis) of the new best.
 * The kept route's cost and path are those through the kept hop. Cost changes on an unchanged
 * next hop are not reported as changes: forwarding is the same. The check costs one Dijkstra per
 * distinct previous next hop that lost a destination (at most the region's degree), and the
 * stabilized table keeps those hops' tables to rebuild the kept paths.
 */
export function stabilize(
  previous: RouteTable | undefined,
  next: RouteTable,
  hysteresis = 0.1,
): Stabilized {
  if (!(hysteresis >= 0)) throw new RangeError(`hysteresis ${hysteresis} must be >= 0`);
  if (previous === undefined) return { table: next, changed: next.destinations() };
  if (previous.source !== next.source) {
    throw new RangeError(`tables of different sources: ${previous.source} and ${next.source}`);
  }
  const source = next.source;
  const graph = next.graph;
  const fromHop = new Map<number, RouteTable>();
  const tableOf = (hop: number) => {
    let table = fromHop.get(hop);
    if (table === undefined) {
      table = computeRoutes(graph, hop);
      fromHop.set(hop, table);
    }
    return table;
  };

  const kept: Array<{ destination: number; cost: number; via: RouteTable }> = [];
  const changed: number[] = [];
  const all = new Set([...previous.destinations(), ...next.destinations()]);
  for (const destination of [...all].sort((a, b) => a - b)) {
    const oldHop = previous.nextHopTo(destination);
    const best = next.get(destination);
    if (best === undefined || oldHop === undefined) {
      if (best !== undefined || oldHop !== undefined) changed.push(destination);
      continue;
    }
    if (oldHop === best.nextHop) continue;
    const link = destination === source ? undefined : linkCost(graph, source, oldHop);
    const beyond = link === undefined ? undefined : tableOf(oldHop).costTo(destination);
    if (
      link !== undefined &&
      beyond !== undefined &&
      beyond < best.cost &&
      link + beyond <= (1 + hysteresis) * best.cost
    ) {
      kept.push({ destination, cost: link + beyond, via: tableOf(oldHop) });
    } else {
      changed.push(destination);
    }
  }
  return { table: kept.length > 0 ? next.withKept(kept) : next, changed };
}
