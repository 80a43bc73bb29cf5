/**
 * GROUP BY and aggregates in memory: one running state per group and aggregate, the groups and
 * the values DISTINCT aggregates have seen held within the statement's memory budget.
 */
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
import type { Row, Value } from "./types.ts";
import { compareValues, groupKey, keyOf } from "./values.ts";

export interface AggState {
  n: number;
  sum: number | bigint | null;
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
  const groups = new Map<unknown, { values: Value[]; states: AggState[] }>();
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
  const addRow = (states: AggState[], row: Row) => {
    for (let i = 0; i < node.aggs.length; i++) {
      const fn = argFns[i];
      const a = node.aggs[i] as AggCall;
      const st = states[i] as AggState;
      if (!fn) {
        st.n++;
        continue;
      }
      const v = fn(row);
      if (v === null || v === undefined) continue;
      if (st.seen) {
        const k = keyOf(v);
        if (st.seen.has(k)) continue;
        share.take(0, HASH_ENTRY_BYTES + valueHeapBytes(v));
        st.seen.set(k, v);
      }
      accumulate(a, st, v);
      const weight = weightFns[i];
      // A partial sum counts as the values it summed.
      if (weight) st.n += Number(weight(row) ?? 0) - 1;
    }
  };
  // Grouping sets (ROLLUP, CUBE): each row counts once in each set, its other groups NULL.
  const sets = node.sets?.map((set) => new Set(set));
  const keyOfSet = (values: Value[], s: number) =>
    sets ? groupKey([s, ...values]) : groupKey(values);
  try {
    for await (const batch of input) {
      for (const row of batch) {
        const all = groupFns.map((f) => f(row));
        for (let s = 0; s < (sets?.length ?? 1); s++) {
          const set = sets?.[s];
          const values = set ? all.map((v, i) => (set.has(i) ? v : null)) : all;
          const key = keyOfSet(values, s);
          let g = groups.get(key);
          if (!g) {
            share.take(1, rowHeapBytes(values) + groupOverhead);
            g = { values, states: fresh() };
            groups.set(key, g);
          }
          addRow(g.states, row);
        }
      }
      if (exec.pacer.due(batch.length * (sets?.length ?? 1))) await exec.pacer.pause();
    }
    // No rows still make one group where nothing is grouped (no GROUP BY, or an empty set).
    const emptySets = sets ? sets.flatMap((set, s) => (set.size === 0 ? [s] : [])) : [];
    if (!sets && node.groups.length === 0 && groups.size === 0) emptySets.push(0);
    for (const s of emptySets) {
      const values = node.groups.map(() => null);
      if (!groups.has(keyOfSet(values, s)))
        groups.set(keyOfSet(values, s), { values, states: fresh() });
    }
    let out: Row[] = [];
    for (const g of groups.values()) {
      out.push([...g.values, ...g.states.map((st, i) => finish(node.aggs[i] as AggCall, st))]);
      if (out.length >= exec.limits.batchRows) {
        yield out;
        out = [];
        if (exec.pacer.due(exec.limits.batchRows)) await exec.pacer.pause();
      }
    }
    if (out.length > 0) yield out;
  } finally {
    share.release();
  }
}

/** A running state for one aggregate over some rows. */
export function freshState(): AggState {
  return { n: 0, sum: null, best: null };
}

export function accumulate(a: AggCall, st: AggState, v: Value): void {
  st.n++;
  switch (a.fn) {
    case "sum":
    case "avg":
      st.sum = addNumbers(st.sum ?? 0, v as number | bigint);
      return;
    case "min":
      if (st.best === null || compareValues(v, st.best) < 0) st.best = v;
      return;
    case "max":
      if (st.best === null || compareValues(v, st.best) > 0) st.best = v;
      return;
    default:
      return;
  }
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
    case "sum":
      if (st.n === 0) return null;
      return a.type === "decimal" && typeof st.sum === "number" ? roundDecimal(st.sum) : st.sum;
    case "avg":
      return st.n === 0 ? null : roundDecimal(Number(st.sum) / st.n);
    default:
      return st.best;
  }
}

/** Sums of decimals carry binary rounding noise; exact decimals have at most a few places. */
function roundDecimal(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e15) return x;
  return Number(x.toFixed(9));
}
