/**
 * ORDER BY: the rows held within the statement's memory budget and sorted in slices; past the
 * budget, with spilling on, sorted runs go to disk and are merged back (spill.ts).
 */

import { sortPaced } from "@entente/runtime/pace";
import { compile, type EvalContext } from "./evaluate.ts";
import type { Execution } from "./exec.ts";
import { rowHeapBytes, SLOT_BYTES, SMALL_OBJECT_BYTES } from "./heap-size.ts";
import type { PlanNode } from "./plan.ts";
import { mergeSorted, type SpillRun } from "./spill.ts";
import type { Row, Value } from "./types.ts";
import { compareForSort } from "./values.ts";

/** Fewest rows worth a run of their own; fewer held at the limit is TOO_LARGE. */
const MIN_RUN_ROWS = 1_000;
/** Most runs read at once by one merge. */
const MERGE_FAN_IN = 64;

interface SortEntry {
  row: Row;
  values: Value[];
}

export async function* runSort(
  node: Extract<PlanNode, { kind: "sort" }>,
  input: AsyncIterable<Row[]>,
  exec: Execution,
  ctx: EvalContext,
): AsyncGenerator<Row[]> {
  const keys = node.keys.map((k) => ({
    f: compile(k.expr, ctx),
    desc: k.desc,
    nullsFirst: k.nullsFirst,
  }));
  const compare = (a: SortEntry, b: SortEntry) => {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as (typeof keys)[number];
      const c = compareForSort(a.values[i], b.values[i], k.desc, k.nullsFirst);
      if (c !== 0) return c;
    }
    return 0;
  };
  const share = exec.memory.share("ORDER BY's rows");
  // Each row: itself, its entry, and its slots in the entries and in the merge's second array.
  const perRow = SMALL_OBJECT_BYTES + 2 * SLOT_BYTES;
  let runs: SpillRun<SortEntry>[] = [];
  try {
    let entries: SortEntry[] = [];
    for await (const batch of input) {
      for (const row of batch) {
        const values = keys.map((k) => k.f(row));
        const bytes = rowHeapBytes(row) + rowHeapBytes(values) + perRow;
        // Over the memory limit with spilling on: what is held goes to disk as a sorted run —
        // when it is worth a file; else the statement is over its limit (TOO_LARGE).
        if (exec.spill && entries.length >= MIN_RUN_ROWS && !share.fits(1, bytes)) {
          const sorted = await sortPaced(entries, compare, exec.pacer);
          runs.push(await exec.spill.writeRun("ORDER BY's rows", sorted));
          entries = [];
          share.release();
        }
        share.take(1, bytes);
        entries.push({ row, values });
      }
      if (exec.pacer.due(batch.length)) await exec.pacer.pause();
    }
    const sorted = await sortPaced(entries, compare, exec.pacer);
    const batchRows = exec.limits.batchRows;
    if (runs.length === 0) {
      for (let i = 0; i < sorted.length; i += batchRows) {
        yield sorted.slice(i, i + batchRows).map((e) => e.row);
        if (exec.pacer.due(batchRows)) await exec.pacer.pause();
      }
      return;
    }
    const pause = async (n: number) => {
      if (exec.pacer.due(n)) await exec.pacer.pause();
    };
    // Runs merged MERGE_FAN_IN at a time into longer ones, so few files are open at once.
    while (runs.length + 1 > MERGE_FAN_IN) {
      const group = runs.slice(0, MERGE_FAN_IN);
      const merged = mergeSorted(
        group.map((r) => r.read()),
        compare,
        batchRows,
        pause,
      );
      const longer = await exec.spill?.writeStream("ORDER BY's rows", merged);
      await Promise.all(group.map((r) => r.remove()));
      runs = [...runs.slice(MERGE_FAN_IN), longer as SpillRun<SortEntry>];
    }
    const inMemory = (async function* () {
      yield sorted;
    })();
    const streams = [...runs.map((r) => r.read()), inMemory];
    for await (const merged of mergeSorted(streams, compare, batchRows, pause))
      yield merged.map((e) => e.row);
  } finally {
    share.release();
    await Promise.all(runs.map((r) => r.remove()));
  }
}
