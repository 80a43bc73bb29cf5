/**
 * Window functions: the input rows held (within the statement's memory budget), each window's
 * partitions sorted, and every row given the value of each window call over its partition and
 * frame. Rows go out in input order with the window values appended.
 *
 * Past the budget, with spilling on, the rows split by what every call partitions by (when the
 * calls have a partition expression in common) into partitions on disk (spill-partitions.ts):
 * each holds whole window partitions, so each is answered alone, in memory, and rows go out a
 * partition at a time. One still too big splits again.
 *
 * Frames are ROWS frames by position, GROUPS frames by peer groups (rows equal in the window's
 * ORDER BY), or RANGE frames by peers and by the distance of the ORDER BY value from the current
 * row's: the default with ORDER BY is RANGE from the partition's start to the current row's last
 * peer, and without ORDER BY the whole partition, as in PostgreSQL.
 */
import { sortPaced } from "@entente/runtime/pace";
import { accumulate, finish, freshState } from "./aggregate.ts";
import { exprKey } from "./bind.ts";
import { type Decimal, toDecimal } from "./decimal.ts";
import { badRequest } from "./errors.ts";
import { type Compiled, compile, type EvalContext } from "./evaluate.ts";
import type { Execution } from "./exec.ts";
import { rowHeapBytes, SLOT_BYTES, SMALL_OBJECT_BYTES } from "./heap-size.ts";
import type { AggCall, FrameBound, FrameUnit, PlanNode, WindowCall } from "./plan.ts";
import {
  MAX_SPLIT_LEVEL,
  MIN_SPLIT_ROWS,
  PARTITIONS,
  partitionRows,
  removeSplits,
  restOf,
  type SplitState,
} from "./spill-partitions.ts";
import type { Row, Value } from "./types.ts";
import { compareForSort, groupKey } from "./values.ts";

export async function* runWindow(
  node: Extract<PlanNode, { kind: "window" }>,
  input: AsyncIterable<Row[]>,
  exec: Execution,
  ctx: EvalContext,
): AsyncGenerator<Row[]> {
  const what = "window functions' rows";
  const share = exec.memory.share(what);
  const splits: SplitState = { partitioners: [], runs: [] };
  const spillKey = commonPartitionKey(node.windows, ctx);
  const rowBytes = (row: Row) =>
    rowHeapBytes(row) + SMALL_OBJECT_BYTES + SLOT_BYTES * node.windows.length;

  /** Holds `rows` and answers them; past the budget, splits them by the common partition key. */
  async function* pass(rows: AsyncIterable<Row[]>, level: number): AsyncGenerator<Row[]> {
    const canSpill = spillKey !== undefined && exec.spill !== undefined && level < MAX_SPLIT_LEVEL;
    const held: Row[] = [];
    const batches = rows[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await batches.next();
        if (next.done) break;
        for (let i = 0; i < next.value.length; i++) {
          const row = next.value[i] as Row;
          const bytes = rowBytes(row);
          if (canSpill && held.length >= MIN_SPLIT_ROWS && !share.fits(1, bytes)) {
            yield* split(held, restOf(next.value.slice(i), batches), level);
            return;
          }
          share.take(1, bytes);
          held.push(row);
        }
        if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
      }
      yield* answer(held);
    } finally {
      share.release();
      await batches.return?.(undefined);
    }
  }

  /** The held rows and the rest into partitions by the common key, each then answered alone. */
  async function* split(
    held: Row[],
    rest: AsyncIterable<Row[]>,
    level: number,
  ): AsyncGenerator<Row[]> {
    const first = [held.splice(0)];
    share.release();
    const keyOf = spillKey as (row: Row) => unknown;
    const runs = await partitionRows(exec, what, share, level, { first, rest }, keyOf, splits);
    for (let p = 0; p < PARTITIONS; p++) {
      const run = runs[p];
      if (run) yield* pass(run.read(), level + 1);
      await run?.remove();
    }
  }

  /** Every window call's values for the rows, appended to them. */
  async function* answer(rows: Row[]): AsyncGenerator<Row[]> {
    const columns: Value[][] = [];
    for (const call of node.windows) columns.push(await windowValues(call, rows, exec, ctx));
    const batchRows = exec.limits.batchRows;
    for (let i = 0; i < rows.length; i += batchRows) {
      const out = rows
        .slice(i, i + batchRows)
        .map((row, j) => [...row, ...columns.map((c) => c[i + j])]);
      yield out;
      if (exec.pacer.due(out.length)) await exec.pacer.pause();
    }
  }

  try {
    yield* pass(input, 0);
  } finally {
    share.release();
    await removeSplits(splits);
  }
}

/**
 * What every call partitions by, as one key: rows with equal keys share every call's partition,
 * so rows split by it can be answered a part at a time. None when some call partitions by
 * nothing in common with the others (or by nothing at all).
 */
function commonPartitionKey(
  windows: WindowCall[],
  ctx: EvalContext,
): ((row: Row) => unknown) | undefined {
  const [first, ...others] = windows;
  const common = (first?.partition ?? []).filter((e) =>
    others.every((w) => w.partition.some((p) => exprKey(p) === exprKey(e))),
  );
  if (common.length === 0) return undefined;
  const parts = common.map((e) => compile(e, ctx));
  return (row) => groupKey(parts.map((f) => f(row)));
}

/** One window call's value for every row, by the row's index in `rows`. */
async function windowValues(
  call: WindowCall,
  rows: Row[],
  exec: Execution,
  ctx: EvalContext,
): Promise<Value[]> {
  const partitionBy = call.partition.map((e) => compile(e, ctx));
  const orderBy = call.order.map((k) => ({ ...k, f: compile(k.expr, ctx) }));
  const args = call.args.map((a) => compile(a, ctx));
  const partitions = new Map<unknown, { index: number; order: Value[] }[]>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Row;
    const key = groupKey(partitionBy.map((f) => f(row)));
    const entry = { index: i, order: orderBy.map((k) => k.f(row)) };
    const part = partitions.get(key);
    if (part) part.push(entry);
    else partitions.set(key, [entry]);
  }
  const compare = (a: { order: Value[] }, b: { order: Value[] }) => {
    for (let k = 0; k < orderBy.length; k++) {
      const o = orderBy[k] as (typeof orderBy)[number];
      const c = compareForSort(a.order[k], b.order[k], o.desc, o.nullsFirst);
      if (c !== 0) return c;
    }
    return 0;
  };
  const values = new Array<Value>(rows.length).fill(null);
  for (const part of partitions.values()) {
    const sorted = orderBy.length > 0 ? await sortPaced(part, compare, exec.pacer) : part;
    const peers = peerGroups(sorted, compare);
    const inPartition = sorted.map((e) => rows[e.index] as Row);
    const pause = async (n: number) => {
      if (exec.pacer.due(n)) await exec.pacer.pause();
    };
    const keys = sorted.map((e) => e.order[0] ?? null);
    const result = await partitionValues(call, inPartition, peers, args, pause, keys);
    sorted.forEach((e, j) => {
      values[e.index] = result[j];
    });
    if (exec.pacer.due(part.length)) await exec.pacer.pause();
  }
  return values;
}

/** Per row of a sorted partition: the first and last index of its peers. */
interface Peers {
  first: number[];
  last: number[];
  /** 0 for the first peer group, 1 for the next, … */
  group: number[];
  /** Per peer group, its first and last index. */
  groupFirst: number[];
  groupLast: number[];
}

function peerGroups<T>(sorted: T[], compare: (a: T, b: T) => number): Peers {
  const n = sorted.length;
  const first = new Array<number>(n);
  const last = new Array<number>(n);
  const group = new Array<number>(n);
  const groupFirst: number[] = [];
  const groupLast: number[] = [];
  let start = 0;
  let g = 0;
  for (let i = 1; i <= n; i++) {
    if (i === n || compare(sorted[i - 1] as T, sorted[i] as T) !== 0) {
      for (let j = start; j < i; j++) {
        first[j] = start;
        last[j] = i - 1;
        group[j] = g;
      }
      groupFirst.push(start);
      groupLast.push(i - 1);
      start = i;
      g++;
    }
  }
  return { first, last, group, groupFirst, groupLast };
}

/** The values of one call over one sorted partition; `pause` lets long frames yield. */
export async function partitionValues(
  call: WindowCall,
  rows: Row[],
  peers: Peers,
  args: Compiled[],
  pause: (work: number) => Promise<void>,
  /** The rows' first ORDER BY values, which RANGE frames with an offset measure. */
  keys: Value[] = [],
): Promise<Value[]> {
  const n = rows.length;
  const arg = (k: number, i: number): Value => (args[k] as Compiled)(rows[i] as Row);
  const out = new Array<Value>(n);
  switch (call.fn) {
    case "row_number":
      for (let i = 0; i < n; i++) out[i] = i + 1;
      return out;
    case "rank":
      for (let i = 0; i < n; i++) out[i] = (peers.first[i] as number) + 1;
      return out;
    case "dense_rank":
      for (let i = 0; i < n; i++) out[i] = (peers.group[i] as number) + 1;
      return out;
    case "percent_rank":
      // (rank - 1) / (rows - 1): the share of the other rows ranked before this one.
      for (let i = 0; i < n; i++) out[i] = n > 1 ? (peers.first[i] as number) / (n - 1) : 0;
      return out;
    case "cume_dist":
      // The share of rows ranked before this one or with it (its peers included).
      for (let i = 0; i < n; i++) out[i] = ((peers.last[i] as number) + 1) / n;
      return out;
    case "ntile":
      return ntile(n, (i) => arg(0, i));
    case "lag":
    case "lead": {
      const sign = call.fn === "lag" ? -1 : 1;
      for (let i = 0; i < n; i++) {
        const offset = args[1] ? arg(1, i) : 1;
        if (offset === null || offset === undefined) {
          out[i] = null;
          continue;
        }
        const j = i + sign * Number(offset);
        out[i] = j >= 0 && j < n ? arg(0, j) : args[2] ? arg(2, i) : null;
      }
      return out;
    }
    default:
      return framed(call, framePartition(call, peers, keys), arg, pause);
  }
}

/** ntile(k): k buckets as equal as can be, the first ones one row larger. */
function ntile(n: number, buckets: (i: number) => Value): Value[] {
  const out = new Array<Value>(n);
  for (let i = 0; i < n; i++) {
    const k = buckets(i);
    if (k === null || k === undefined) {
      out[i] = null;
      continue;
    }
    const count = Number(k);
    if (!Number.isInteger(count) || count <= 0)
      throw badRequest("argument of ntile must be greater than zero");
    const size = Math.floor(n / count);
    const larger = n % count;
    const boundary = larger * (size + 1);
    out[i] =
      i < boundary
        ? Math.floor(i / (size + 1)) + 1
        : larger + Math.floor((i - boundary) / size) + 1;
  }
  return out;
}

/** Calls whose value depends on the frame: aggregates and first/last/nth_value. */
async function framed(
  call: WindowCall,
  partition: SortedPartition,
  arg: (k: number, i: number) => Value,
  pause: (work: number) => Promise<void>,
): Promise<Value[]> {
  const { n } = partition;
  const unit = call.frame.unit;
  const bounds = (i: number): [number, number] => [
    frameEdge(call.frame.start, i, partition, unit, "start"),
    frameEdge(call.frame.end, i, partition, unit, "end"),
  ];
  const out = new Array<Value>(n);
  if (call.frame.exclude) return excluding(call, partition, bounds, arg, pause);
  if (picksOneRow(call)) {
    for (let i = 0; i < n; i++) {
      const [lo, hi] = bounds(i);
      out[i] = pickedValue(call, i, arg, Math.max(0, hi - lo + 1), (p) => lo + p);
    }
    return out;
  }
  const agg: AggCall = { fn: call.fn as AggCall["fn"], distinct: false, type: call.type };
  if (call.args.length > 0) agg.arg = call.args[0] as AggCall["arg"];
  const add = (st: ReturnType<typeof freshState>, j: number, earlier = false) => {
    if (call.args.length === 0) st.n++;
    else {
      const v = arg(0, j);
      if (v !== null && v !== undefined) accumulate(agg, st, v, earlier);
    }
  };
  if (call.frame.start.kind === "unbounded") {
    // The frame only grows as the row moves on: one running state.
    const st = freshState();
    let added = -1;
    for (let i = 0; i < n; i++) {
      const [, hi] = bounds(i);
      while (added < hi) add(st, ++added);
      out[i] = finish(agg, st);
    }
    return out;
  }
  if (call.frame.end.kind === "unbounded") {
    // The frame runs to the partition's end: one running state, from the last row back.
    const st = freshState();
    let added = n;
    for (let i = n - 1; i >= 0; i--) {
      const [lo] = bounds(i);
      while (added > lo) add(st, --added, true);
      out[i] = finish(agg, st);
    }
    return out;
  }
  // Bounded at both ends: each row's frame summed anew, handing the event loop back meanwhile.
  const worked = workPacer(pause);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = bounds(i);
    const st = freshState();
    for (let j = lo; j <= hi; j++) add(st, j);
    out[i] = finish(agg, st);
    await worked(hi - lo + 1);
  }
  return out;
}

/** first_value, last_value and nth_value: a call whose value is one row's of the frame. */
function picksOneRow(call: WindowCall): boolean {
  return call.fn === "first_value" || call.fn === "last_value" || call.fn === "nth_value";
}

/** The value such a call picks among a frame of `count` rows, the p-th of them at `rowAt(p)`. */
function pickedValue(
  call: WindowCall,
  i: number,
  arg: (k: number, i: number) => Value,
  count: number,
  rowAt: (p: number) => number,
): Value {
  let p = call.fn === "first_value" ? 0 : count - 1;
  if (call.fn === "nth_value") {
    const k = arg(1, i);
    if (k === null || k === undefined) return null;
    if (Number(k) <= 0) throw badRequest("argument of nth_value must be greater than zero");
    p = Number(k) - 1;
  }
  return p >= 0 && p < count ? arg(0, rowAt(p)) : null;
}

/** Hands the event loop back once 4,096 units of work have been done since it last did. */
function workPacer(pause: (work: number) => Promise<void>): (units: number) => Promise<void> {
  let work = 0;
  return async (units) => {
    work += Math.max(1, units);
    if (work >= 4096) {
      await pause(work);
      work = 0;
    }
  };
}

function framePartition(call: WindowCall, peers: Peers, keys: Value[]): SortedPartition {
  const first = call.order[0];
  return sortedPartition(peers, keys, first?.desc ?? false, first?.expr.type !== "double");
}

/**
 * A frame with EXCLUDE: each row's frame read anew, without the current row (CURRENT ROW), its
 * peers and it (GROUP), or its peers but not it (TIES).
 */
async function excluding(
  call: WindowCall,
  partition: SortedPartition,
  bounds: (i: number) => [number, number],
  arg: (k: number, i: number) => Value,
  pause: (work: number) => Promise<void>,
): Promise<Value[]> {
  const { n, peers } = partition;
  const out = new Array<Value>(n);
  const agg: AggCall = { fn: call.fn as AggCall["fn"], distinct: false, type: call.type };
  if (call.args.length > 0) agg.arg = call.args[0] as AggCall["arg"];
  const worked = workPacer(pause);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = bounds(i);
    const first = peers.first[i] as number;
    const last = peers.last[i] as number;
    const left = (j: number) =>
      call.frame.exclude === "current row"
        ? j === i
        : j >= first && j <= last && (call.frame.exclude === "group" || j !== i);
    const rows: number[] = [];
    for (let j = Math.max(lo, 0); j <= hi; j++) if (!left(j)) rows.push(j);
    if (picksOneRow(call)) {
      out[i] = pickedValue(call, i, arg, rows.length, (p) => rows[p] as number);
    } else {
      const st = freshState();
      for (const j of rows) {
        if (call.args.length === 0) st.n++;
        else {
          const v = arg(0, j);
          if (v !== null && v !== undefined) accumulate(agg, st, v);
        }
      }
      out[i] = finish(agg, st);
    }
    await worked(hi - lo + 1);
  }
  return out;
}

/** A sorted partition as frames see it. */
interface SortedPartition {
  n: number;
  peers: Peers;
  /** The rows' first ORDER BY values (RANGE frames with an offset), and whether descending. */
  keys: Value[];
  desc: boolean;
  /** NULLs sort together at one end: the rows with a value lie in [valuedFrom, valuedTo). */
  valuedFrom: number;
  valuedTo: number;
  /** Whether the values compare as exact decimals (all but doubles), and those read so far. */
  exact: boolean;
  scaledKeys: (Decimal | null | undefined)[];
}

function sortedPartition(
  peers: Peers,
  keys: Value[],
  desc: boolean,
  exact: boolean,
): SortedPartition {
  const n = peers.first.length;
  const isNull = (k: number) => keys[k] === null || keys[k] === undefined;
  let valuedFrom = 0;
  let valuedTo = keys.length === n ? n : 0;
  while (valuedFrom < valuedTo && isNull(valuedFrom)) valuedFrom++;
  while (valuedTo > valuedFrom && isNull(valuedTo - 1)) valuedTo--;
  return { n, peers, keys, desc, valuedFrom, valuedTo, exact, scaledKeys: [] };
}

/** A frame edge's row index within the partition (start may exceed end: an empty frame). */
function frameEdge(
  bound: FrameBound,
  i: number,
  partition: SortedPartition,
  unit: FrameUnit,
  edge: "start" | "end",
): number {
  const { n, peers } = partition;
  switch (bound.kind) {
    case "unbounded":
      return edge === "start" ? 0 : n - 1;
    case "current":
      if (unit === "rows") return i;
      return edge === "start" ? (peers.first[i] as number) : (peers.last[i] as number);
    case "offset": {
      if (unit === "range") return rangeEdge(bound, i, partition, edge);
      if (unit === "groups") {
        const g = (peers.group[i] as number) + bound.by;
        if (g < 0) return edge === "start" ? 0 : -1;
        if (g >= peers.groupFirst.length) return edge === "start" ? n : n - 1;
        return edge === "start" ? (peers.groupFirst[g] as number) : (peers.groupLast[g] as number);
      }
      const j = i + bound.by;
      return Math.min(Math.max(j, edge === "start" ? 0 : -1), edge === "end" ? n - 1 : n);
    }
  }
}

/**
 * A RANGE frame's edge an offset away from the current row's ORDER BY value: the first row
 * (start) or last row (end) whose value is within it, found by binary search among the rows
 * with a value. Values are compared exactly (as decimals) unless they are doubles, which compare
 * as doubles do, NaN above every number as PostgreSQL sorts it. A row whose value is NULL (or a
 * double's NaN) frames its peers.
 */
function rangeEdge(
  bound: Extract<FrameBound, { kind: "offset" }>,
  i: number,
  partition: SortedPartition,
  edge: "start" | "end",
): number {
  const { peers, keys, desc, valuedFrom, valuedTo } = partition;
  const ownPeers = edge === "start" ? (peers.first[i] as number) : (peers.last[i] as number);
  const v = keys[i];
  if (v === null || v === undefined) return ownPeers;
  // Toward smaller values: PRECEDING in ascending order, FOLLOWING in descending.
  const down = bound.preceding !== desc;
  const position = partition.exact
    ? exactPosition(partition, v, bound.literal, down)
    : doublePosition(partition, v, bound.literal, down);
  if (!position) return ownPeers;
  /** Whether the row at `k` comes before the edge's value in the partition's order. */
  const before = (k: number) => (desc ? position(k) > 0 : position(k) < 0);
  const after = (k: number) => (desc ? position(k) < 0 : position(k) > 0);
  const firstWhere = (test: (k: number) => boolean): number => {
    let a = valuedFrom;
    let b = valuedTo;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (test(mid)) b = mid;
      else a = mid + 1;
    }
    return a;
  };
  return edge === "start" ? firstWhere((k) => !before(k)) : firstWhere(after) - 1;
}

/** Where the row at `k`'s value lies against `v` moved by the offset: -1 below, 0 at, 1 above. */
type Position = (k: number) => number;

function exactPosition(
  partition: SortedPartition,
  v: Value,
  literal: string,
  down: boolean,
): Position | undefined {
  const base = toDecimal(v);
  const offset = toDecimal(literal);
  if (!base || !offset) return undefined;
  const target = down ? base.subtract(offset) : base.add(offset);
  const cache = partition.scaledKeys;
  return (k) => {
    let d = cache[k];
    if (d === undefined) {
      d = toDecimal(partition.keys[k]) ?? null;
      cache[k] = d;
    }
    if (d) return d.compare(target);
    // Not a finite number: -Infinity sorts below every number, Infinity and NaN above.
    return partition.keys[k] === Number.NEGATIVE_INFINITY ? -1 : 1;
  };
}

function doublePosition(
  partition: SortedPartition,
  v: Value,
  literal: string,
  down: boolean,
): Position | undefined {
  const base = Number(v);
  if (Number.isNaN(base)) return undefined;
  const target = down ? base - Number(literal) : base + Number(literal);
  return (k) => {
    const x = Number(partition.keys[k]);
    if (Number.isNaN(x)) return 1;
    return x < target ? -1 : x > target ? 1 : 0;
  };
}
