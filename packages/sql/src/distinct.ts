/**
 * DISTINCT: each distinct row (or, with `on`, the first row of each value of those columns)
 * streamed on as it is first seen, its key kept within the statement's memory budget.
 *
 * Past the budget, with spilling on, a plain DISTINCT splits by key: the keys it has seen (rows
 * already sent on) and every row still to come go to partitions on disk by a hash of their key
 * (spill-partitions.ts), and each partition is finished in memory in turn — its seen keys first,
 * then its rows, each sent on unless its key is known. A partition still too big splits again.
 * DISTINCT ON after the sort its columns lead holds nothing but the last key: equal values
 * arrive together, and the first of each run goes on. Without ORDER BY (no sort below) it is a
 * DISTINCT of its columns' values that sends on the first row of each, and spills the same way:
 * a value's rows keep their order within its partition.
 */
import type { Execution } from "./exec.ts";
import { HASH_ENTRY_BYTES, rowHeapBytes, SLOT_BYTES } from "./heap-size.ts";
import type { PlanNode, SortKey } from "./plan.ts";
import {
  emptyStream,
  MAX_SPLIT_LEVEL,
  MIN_SPLIT_ROWS,
  PARTITIONS,
  partitionRows,
  removeSplits,
  restOf,
  type SplitState,
} from "./spill-partitions.ts";
import type { Row } from "./types.ts";
import { groupKey } from "./values.ts";

type DistinctNode = Extract<PlanNode, { kind: "distinct" }>;

export async function* runDistinct(
  node: DistinctNode,
  input: AsyncIterable<Row[]>,
  exec: Execution,
): AsyncGenerator<Row[]> {
  const on = node.on;
  const keyOf = (row: Row) => groupKey(on ? on.map((i) => row[i]) : row);
  if (arrivesGrouped(node)) {
    yield* firstOfEachRun(input, keyOf, exec);
    return;
  }
  const share = exec.memory.share("DISTINCT's rows");
  const splits: SplitState = { partitioners: [], runs: [] };

  /**
   * One pass: the keys of `known` (rows already sent on) first, then `rows`, each sent on when
   * its key is new. Past the memory limit it splits what is left into the next level's
   * partitions and finishes them one by one.
   */
  async function* pass(
    known: AsyncIterable<Row[]>,
    rows: AsyncIterable<Row[]>,
    level: number,
  ): AsyncGenerator<Row[]> {
    const seen = new Map<unknown, Row>();
    // DISTINCT ON's rows in ORDER BY's order are never sent on partition by partition.
    const ordered = on !== undefined && node.input.kind === "sort";
    const canSpill = exec.spill !== undefined && level < MAX_SPLIT_LEVEL && !ordered;
    /** Whether `row` fits; false: time to split (the caller hands over the rest). */
    const keep = (key: unknown, row: Row): boolean => {
      const bytes = rowHeapBytes(row) + HASH_ENTRY_BYTES + SLOT_BYTES;
      if (canSpill && seen.size >= MIN_SPLIT_ROWS && !share.fits(1, bytes)) return false;
      share.take(1, bytes);
      seen.set(key, row);
      return true;
    };
    const knownRows = known[Symbol.asyncIterator]();
    const newRows = rows[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await knownRows.next();
        if (next.done) break;
        for (let i = 0; i < next.value.length; i++) {
          const row = next.value[i] as Row;
          const key = keyOf(row);
          if (seen.has(key) || keep(key, row)) continue;
          const restKnown = restOf(next.value.slice(i), knownRows);
          yield* split(seen, restKnown, restOf([], newRows), level);
          return;
        }
        if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
      }
      for (;;) {
        const next = await newRows.next();
        if (next.done) break;
        let out: Row[] = [];
        for (let i = 0; i < next.value.length; i++) {
          const row = next.value[i] as Row;
          const key = keyOf(row);
          if (seen.has(key)) continue;
          if (!keep(key, row)) {
            if (out.length > 0) yield out;
            out = [];
            yield* split(seen, emptyStream(), restOf(next.value.slice(i), newRows), level);
            return;
          }
          out.push(row);
        }
        if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
        if (out.length > 0) yield out;
      }
    } finally {
      share.release();
      await Promise.all([knownRows.return?.(undefined), newRows.return?.(undefined)]);
    }
  }

  /** Writes the seen keys and what is left into the next level's partitions, then finishes them. */
  async function* split(
    seen: Map<unknown, Row>,
    known: AsyncIterable<Row[]>,
    rows: AsyncIterable<Row[]>,
    level: number,
  ): AsyncGenerator<Row[]> {
    const held = [...seen.values()];
    seen.clear();
    share.release();
    const knownRuns = await partition({ first: [held], rest: known }, level);
    held.length = 0;
    const rowRuns = await partition({ first: [], rest: rows }, level);
    for (let p = 0; p < PARTITIONS; p++) {
      const knownRun = knownRuns[p];
      const rowRun = rowRuns[p];
      if (rowRun) yield* pass(knownRun?.read() ?? emptyStream(), rowRun.read(), level + 1);
      await Promise.all([knownRun?.remove(), rowRun?.remove()]);
    }
  }

  const partition = (input: { first: Row[][]; rest: AsyncIterable<Row[]> }, level: number) =>
    partitionRows(exec, "DISTINCT's rows", share, level, input, keyOf, splits);

  try {
    yield* pass(emptyStream(), input, 0);
  } finally {
    share.release();
    await removeSplits(splits);
  }
}

/**
 * DISTINCT ON above the sort whose leading keys are its columns (PostgreSQL requires them to
 * lead ORDER BY): rows with equal values arrive one after another.
 */
function arrivesGrouped(node: DistinctNode): boolean {
  const { on, input } = node;
  if (!on || input.kind !== "sort") return false;
  const distinctOn = new Set(on);
  const leading = leadingColumns(input.keys, distinctOn.size);
  return leading.length === distinctOn.size && leading.every((i) => distinctOn.has(i));
}

/** The first `count` different columns `keys` sort by (-1 for a key that is not a column). */
function leadingColumns(keys: readonly SortKey[], count: number): number[] {
  const columns = [...new Set(keys.map((k) => (k.expr.k === "col" ? k.expr.i : -1)))];
  return columns.slice(0, count);
}

/** The first row of each run of rows with the same key: only the last key is held. */
async function* firstOfEachRun(
  input: AsyncIterable<Row[]>,
  keyOf: (row: Row) => unknown,
  exec: Execution,
): AsyncGenerator<Row[]> {
  let last: unknown;
  let started = false;
  for await (const batch of input) {
    const out: Row[] = [];
    for (const row of batch) {
      const key = keyOf(row);
      // The same key as a Map would judge it (NaN equal to NaN).
      const same = started && (key === last || Object.is(key, last));
      if (!same) out.push(row);
      last = key;
      started = true;
    }
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
    if (out.length > 0) yield out;
  }
}
