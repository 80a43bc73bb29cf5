/**
 * GROUP BY and aggregates in memory: one running state per group and aggregate, the groups and
 * the values DISTINCT aggregates have seen held within the statement's memory budget.
 */
import { sortPaced } from "@entente/runtime/pace";
import { Decimal, toDecimal } from "./decimal.ts";
import { compile, type EvalContext } from "./evaluate.ts";
import type { Execution } from "./exec.ts";
import {
  arrayHeapBytes,
  HASH_ENTRY_BYTES,
  rowHeapBytes,
  SMALL_OBJECT_BYTES,
  valueHeapBytes,
} from "./heap-size.ts";
import type { AggCall, PlanNode } from "./plan.ts";
import { mergeSorted, type SpillRun, type SpillSpace } from "./spill.ts";
import type { Row, Value } from "./types.ts";
import { compareValues, groupKey, keyOf } from "./values.ts";

export interface AggState {
  n: number;
  /** Exact (a Decimal) where the result is a decimal, until a NaN or infinity makes it a double. */
  sum: number | bigint | Decimal | null;
  /** What adding doubles to `sum` lost, kept to add back at the end (Neumaier's summation). */
  lost?: number;
  best: Value;
  seen?: Map<unknown, Value>;
}

export async function* runAggregate(
  node: Extract<PlanNode, { kind: "aggregate" }>,
  input: AsyncIterable<Row[]>,
  exec: Execution,
  ctx: EvalContext,
): AsyncGenerator<Row[]> {
  const groupFns = node.groups.map((g) => compile(g, ctx));
  const argFns = node.aggs.map((a) => (a.arg ? compile(a.arg, ctx) : undefined));
  const weightFns = node.aggs.map((a) => (a.weight ? compile(a.weight, ctx) : undefined));
  const groups = new Map<unknown, { values: Value[]; states: AggState[]; set: number }>();
  const share = exec.memory.share("GROUP BY's groups");
  // A group: its values, its hash entry, its object, and an array of one state per aggregate.
  const groupOverhead =
    HASH_ENTRY_BYTES +
    SMALL_OBJECT_BYTES +
    arrayHeapBytes(node.aggs.length) +
    SMALL_OBJECT_BYTES * node.aggs.length;
  const fresh = () =>
    node.aggs.map(
      (a) =>
        ({ n: 0, sum: null, best: null, ...(a.distinct ? { seen: new Map() } : {}) }) as AggState,
    );
  /** One row's contribution: each aggregate's argument (and partial-sum weight) evaluated. */
  const add = (states: AggState[], inputs: Value[], weights: Value[]) => {
    for (let i = 0; i < node.aggs.length; i++) {
      const a = node.aggs[i] as AggCall;
      const st = states[i] as AggState;
      if (!argFns[i]) {
        st.n++;
        continue;
      }
      const v = inputs[i];
      if (v === null || v === undefined) continue;
      if (st.seen) {
        const k = keyOf(v);
        if (st.seen.has(k)) continue;
        share.take(0, HASH_ENTRY_BYTES + valueHeapBytes(v));
        st.seen.set(k, v);
      }
      accumulate(a, st, v);
      // A partial sum counts as the values it summed.
      if (weightFns[i]) st.n += Number(weights[i] ?? 0) - 1;
    }
  };
  /** A group's row; GROUPING's value is its grouping set's. */
  const result = (values: Value[], states: AggState[], set: number): Row => [
    ...values,
    ...states.map((st, i) => {
      const a = node.aggs[i] as AggCall;
      return a.fn === "grouping" ? (a.masks?.[set] ?? 0) : finish(a, st);
    }),
  ];
  // Grouping sets (ROLLUP, CUBE): each row counts once in each set, its other groups NULL.
  const sets = node.sets?.map((set) => new Set(set));
  const keyOfSet = (values: Value[], s: number) =>
    sets ? groupKey([s, ...values]) : groupKey(values);
  // Past the memory limit, with spilling on, rows of groups not held go to disk (see spill.ts).
  const spilled = exec.spill ? new GroupSpill(exec) : undefined;
  let rowsSeen = 0;
  try {
    for await (const batch of input) {
      rowsSeen += batch.length;
      for (const row of batch) {
        const all = groupFns.map((f) => f(row));
        const inputs = argFns.map((f) => f?.(row));
        const weights = weightFns.map((f) => f?.(row));
        for (let s = 0; s < (sets?.length ?? 1); s++) {
          const set = sets?.[s];
          const values = set ? all.map((v, i) => (set.has(i) ? v : null)) : all;
          const key = keyOfSet(values, s);
          let g = groups.get(key);
          if (!g) {
            const bytes = rowHeapBytes(values) + groupOverhead;
            // Once one group has gone to disk, every new one does: a group's rows are then all
            // in memory or all on disk, never split between them.
            if (spilled && (spilled.started || (groups.size > 0 && !share.fits(1, bytes)))) {
              await spilled.add({
                key: String(groupKey([s, ...values])),
                set: s,
                values,
                inputs,
                weights,
              });
              continue;
            }
            share.take(1, bytes);
            g = { values, states: fresh(), set: s };
            groups.set(key, g);
          }
          add(g.states, inputs, weights);
        }
      }
      if (exec.pacer.due(batch.length * (sets?.length ?? 1))) await exec.pacer.pause();
    }
    // No rows still make one group where nothing is grouped (no GROUP BY, or an empty set);
    // with rows, that group exists already, held or spilled.
    if (rowsSeen === 0) {
      const emptySets = sets ? sets.flatMap((set, s) => (set.size === 0 ? [s] : [])) : [];
      if (!sets && node.groups.length === 0) emptySets.push(0);
      for (const s of emptySets) {
        const values = node.groups.map(() => null);
        groups.set(keyOfSet(values, s), { values, states: fresh(), set: s });
      }
    }
    let out: Row[] = [];
    // A group handed on is no longer held: its share goes back before the operator above
    // (a sort, say) takes the rows into its own.
    for (const [key, g] of groups) {
      out.push(result(g.values, g.states, g.set));
      groups.delete(key);
      share.give(1, rowHeapBytes(g.values) + groupOverhead);
      if (out.length >= exec.limits.batchRows) {
        yield out;
        out = [];
        if (exec.pacer.due(exec.limits.batchRows)) await exec.pacer.pause();
      }
    }
    if (out.length > 0) yield out;
    // The spilled rows, sorted by group: each group aggregated as its rows go by.
    if (spilled?.started) {
      groups.clear();
      share.release();
      yield* spilled.aggregate(fresh, add, result);
    }
  } finally {
    share.release();
    await spilled?.remove();
  }
}

interface SpilledRow {
  /** The group's key (grouping set and values), as GROUP BY tells groups apart. */
  key: string;
  /** The grouping set's index (0 without grouping sets). */
  set: number;
  values: Value[];
  inputs: Value[];
  weights: Value[];
}

/** Rows, and heap bytes, per sorted run of spilled GROUP BY rows. */
const SPILL_RUN_ROWS = 20_000;
const SPILL_RUN_BYTES = 16 * 1024 * 1024;

/**
 * GROUP BY past the memory limit: rows whose group is not held are gathered in runs sorted by
 * their group, written to disk, and merged back so each group's rows come together.
 */
class GroupSpill {
  readonly #exec: Execution;
  #pending: SpilledRow[] = [];
  #pendingBytes = 0;
  readonly #runs: SpillRun<SpilledRow>[] = [];

  constructor(exec: Execution) {
    this.#exec = exec;
  }

  get started(): boolean {
    return this.#pending.length > 0 || this.#runs.length > 0;
  }

  async add(row: SpilledRow): Promise<void> {
    this.#pending.push(row);
    this.#pendingBytes += rowHeapBytes(row.values) + rowHeapBytes(row.inputs) + row.key.length;
    if (this.#pending.length >= SPILL_RUN_ROWS || this.#pendingBytes >= SPILL_RUN_BYTES)
      await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const sorted = await sortPaced(this.#pending, bySpilledGroup, this.#exec.pacer);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#runs.push(await (this.#exec.spill as SpillSpace).writeRun("GROUP BY's groups", sorted));
  }

  async *aggregate(
    fresh: () => AggState[],
    add: (states: AggState[], inputs: Value[], weights: Value[]) => void,
    result: (values: Value[], states: AggState[], set: number) => Row,
  ): AsyncGenerator<Row[]> {
    await this.flush();
    if (this.#runs.length === 0) return;
    const pause = async (n: number) => {
      if (this.#exec.pacer.due(n)) await this.#exec.pacer.pause();
    };
    const batchRows = this.#exec.limits.batchRows;
    let current: SpilledRow | undefined;
    let states: AggState[] = [];
    let out: Row[] = [];
    const streams = this.#runs.map((r) => r.read());
    for await (const rows of mergeSorted(streams, bySpilledGroup, batchRows, pause)) {
      for (const row of rows) {
        if (!current || bySpilledGroup(current, row) !== 0) {
          if (current) out.push(result(current.values, states, current.set));
          current = row;
          states = fresh();
        }
        add(states, row.inputs, row.weights);
      }
      if (out.length >= batchRows) {
        yield out;
        out = [];
      }
    }
    if (current) out.push(result(current.values, states, current.set));
    if (out.length > 0) yield out;
  }

  async remove(): Promise<void> {
    await Promise.all(this.#runs.map((r) => r.remove()));
  }
}

/**
 * Spilled rows in the order of their group keys: any total order in which a group's rows lie
 * together will do, and the keys tell groups apart exactly as GROUP BY does (NaN, json, -0).
 */
function bySpilledGroup(a: SpilledRow, b: SpilledRow): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** A running state for one aggregate over some rows. */
export function freshState(): AggState {
  return { n: 0, sum: null, best: null };
}

/** `earlier`: `v` comes before the values added so far (a window frame summed from its end). */
export function accumulate(a: AggCall, st: AggState, v: Value, earlier = false): void {
  st.n++;
  switch (a.fn) {
    case "sum":
    case "avg":
      if (a.type === "decimal") {
        st.sum = addDecimal(st.sum, v);
        return;
      }
      // A double sum of a column that mixes decimals in (a UNION member's) adds them as doubles.
      if (v instanceof Decimal) v = v.toNumber();
      if (typeof v === "number" && (st.sum === null || typeof st.sum === "number")) {
        // Compensated: the sum of a million doubles stays their sum, not drifted rounding.
        const sum = st.sum ?? 0;
        const t = sum + v;
        st.lost = (st.lost ?? 0) + (Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum);
        st.sum = t;
        return;
      }
      st.sum = addNumbers((st.sum as number | bigint | null) ?? 0, v as number | bigint);
      return;
    // Of equal values the last is kept, as PostgreSQL's do: `1.50` then `1.5` gives `1.5`.
    case "min": {
      const c = st.best === null ? -1 : compareValues(v, st.best);
      if (earlier ? c < 0 : c <= 0) st.best = v;
      return;
    }
    case "max": {
      const c = st.best === null ? 1 : compareValues(v, st.best);
      if (earlier ? c > 0 : c >= 0) st.best = v;
      return;
    }
    default:
      return;
  }
}

/** A decimal sum: exact, unless a NaN or infinity (which numeric holds) makes it that double. */
function addDecimal(sum: AggState["sum"], v: Value): AggState["sum"] {
  const d = toDecimal(v);
  if (!d || typeof sum === "number") return Number(sum ?? 0) + Number(v);
  return sum instanceof Decimal ? sum.add(d) : d;
}

/** Exact in bigint while every addend is an integer; a fraction turns the sum into a double. */
function addNumbers(sum: number | bigint, v: number | bigint): number | bigint {
  if (typeof sum === "number" && typeof v === "number") return sum + v;
  const fraction =
    (typeof sum === "number" && !Number.isInteger(sum)) ||
    (typeof v === "number" && !Number.isInteger(v));
  return fraction ? Number(sum) + Number(v) : BigInt(sum) + BigInt(v);
}

export function finish(a: AggCall, st: AggState): Value {
  switch (a.fn) {
    case "count":
      return st.n;
    case "sum": {
      if (st.n === 0) return null;
      return typeof st.sum === "number" ? st.sum + (st.lost ?? 0) : st.sum;
    }
    case "avg": {
      if (st.n === 0) return null;
      // As PostgreSQL's numeric avg: the exact sum divided at numeric division's scale.
      if (st.sum instanceof Decimal) return st.sum.divide(Decimal.fromInteger(st.n));
      const sum = typeof st.sum === "number" ? st.sum + (st.lost ?? 0) : Number(st.sum);
      return sum / st.n;
    }
    default:
      return st.best;
  }
}
