/**
 * DISTINCT: each distinct row (or, with `on`, the first row of each value of those columns)
 * streamed on as it is first seen, its key kept within the statement's memory budget.
 *
 * Past the budget, with spilling on, a plain DISTINCT splits by key: the keys it has seen (rows
 * already sent on) and every row still to come go to partitions on disk by a hash of their key
 * (spill-partitions.ts), and each partition is finished in memory in turn — its seen keys first,
 * then its rows, each sent on unless its key is known. A partition still too big splits again.
 * DISTINCT ON keeps the first row in ORDER BY's order and so does not spill.
 */
import type { Execution } from "./exec.ts";
import { HASH_ENTRY_BYTES, rowHeapBytes, SLOT_BYTES } from "./heap-size.ts";
import type { PlanNode } from "./plan.ts";
import type { SpillRun } from "./spill.ts";
import {
  emptyStream,
  MAX_SPLIT_LEVEL,
  MIN_SPLIT_ROWS,
  PARTITIONS,
  Partitioner,
  restOf,
} from "./spill-partitions.ts";
import type { Row } from "./types.ts";
import { groupKey } from "./values.ts";

type Runs = (SpillRun<Row> | undefined)[];

export async function* runDistinct(
  node: Extract<PlanNode, { kind: "distinct" }>,
  input: AsyncIterable<Row[]>,
  exec: Execution,
): AsyncGenerator<Row[]> {
  const on = node.on;
  const keyOf = (row: Row) => groupKey(on ? on.map((i) => row[i]) : row);
  const share = exec.memory.share("DISTINCT's rows");
  const partitioners: Partitioner[] = [];
  const runs: SpillRun<Row>[] = [];

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
    const canSpill = exec.spill !== undefined && on === undefined && level < MAX_SPLIT_LEVEL;
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
    const knownRuns = await partition([held], known, level);
    held.length = 0;
    const rowRuns = await partition([], rows, level);
    for (let p = 0; p < PARTITIONS; p++) {
      const knownRun = knownRuns[p];
      const rowRun = rowRuns[p];
      if (rowRun) yield* pass(knownRun?.read() ?? emptyStream(), rowRun.read(), level + 1);
      await Promise.all([knownRun?.remove(), rowRun?.remove()]);
    }
  }

  async function partition(
    first: Row[][],
    rest: AsyncIterable<Row[]>,
    level: number,
  ): Promise<Runs> {
    const space = exec.spill;
    if (!space) throw new Error("DISTINCT spilled without a spill space");
    const parts = new Partitioner(space, "DISTINCT's rows", level, share);
    partitioners.push(parts);
    const add = async (batch: Row[]) => {
      for (const row of batch) await parts.add(keyOf(row), row);
      if (exec.pacer.due(batch.length)) await exec.pacer.pause();
    };
    for (const batch of first) await add(batch);
    for await (const batch of rest) await add(batch);
    const done = await parts.finish();
    for (const run of done) if (run) runs.push(run);
    return done;
  }

  try {
    yield* pass(emptyStream(), input, 0);
  } finally {
    share.release();
    await Promise.all(partitioners.map((p) => p.abandon()));
    await Promise.all(runs.map((r) => r.remove()));
  }
}
