/**
 * INTERSECT and EXCEPT, with or without ALL: the right input's rows counted by value first, then
 * the left input's rows streamed against the counts. Without ALL each distinct left row goes out
 * once at most (the rows sent on are remembered); with ALL each left row found on the right uses
 * up one of its matches, so a row m times on the left and n on the right goes out min(m, n)
 * times (INTERSECT ALL) or max(m - n, 0) times (EXCEPT ALL).
 *
 * Past the memory budget, with spilling on, the operation splits by row as DISTINCT does
 * (spill-partitions.ts): the counts held and the rest of the right input, the rows already sent
 * on, and the rest of the left input go to partitions on disk by a hash of the row. Equal rows
 * land in the same partition, so each partition is then worked through alone, in memory; one
 * still too big splits again.
 */
import type { Execution } from "./exec.ts";
import { HASH_ENTRY_BYTES, rowHeapBytes, SLOT_BYTES } from "./heap-size.ts";
import type { PlanNode } from "./plan.ts";
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

type SetOperation = Extract<PlanNode, { kind: "setop" }>;

/** A right row's value and how many times it was seen. */
interface Counted {
  row: Row;
  n: number;
}

/**
 * The streams one pass reads. Right rows read back from a partition carry their count as a
 * last column (`counted`); `sent` are rows a previous level already sent on (without ALL).
 */
interface PassInput {
  right: AsyncIterable<Row[]>;
  counted: boolean;
  sent: AsyncIterable<Row[]>;
  left: AsyncIterable<Row[]>;
}

export async function* runSetOperation(
  node: SetOperation,
  left: AsyncIterable<Row[]>,
  right: AsyncIterable<Row[]>,
  exec: Execution,
): AsyncGenerator<Row[]> {
  const intersect = node.op === "intersect";
  const width = node.columns.length;
  const what = `${node.op.toUpperCase()}${node.all ? " ALL" : ""}'s rows`;
  const share = exec.memory.share(what);
  const splits: SplitState = { partitioners: [], runs: [] };

  async function* pass(input: PassInput, level: number): AsyncGenerator<Row[]> {
    const counts = new Map<unknown, Counted>();
    const sent = new Map<unknown, Row>();
    const canSpill = exec.spill !== undefined && level < MAX_SPLIT_LEVEL;
    /** Holds an entry if it fits; false: time to split (the caller hands over the rest). */
    const hold = (row: Row): boolean => {
      const bytes = rowHeapBytes(row) + HASH_ENTRY_BYTES + SLOT_BYTES;
      if (canSpill && counts.size + sent.size >= MIN_SPLIT_ROWS && !share.fits(1, bytes))
        return false;
      share.take(1, bytes);
      return true;
    };
    const rights = input.right[Symbol.asyncIterator]();
    const sents = input.sent[Symbol.asyncIterator]();
    const lefts = input.left[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await rights.next();
        if (next.done) break;
        for (let i = 0; i < next.value.length; i++) {
          const raw = next.value[i] as Row;
          const row = input.counted ? raw.slice(0, width) : raw;
          const n = input.counted ? Number(raw[width]) : 1;
          const key = groupKey(row);
          const held = counts.get(key);
          if (held) held.n += n;
          else if (hold(row)) counts.set(key, { row, n });
          else {
            const restRight = { rows: restOf(next.value.slice(i), rights), counted: input.counted };
            yield* split(counts, sent, restRight, restOf([], sents), restOf([], lefts), level);
            return;
          }
        }
        if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
      }
      for (;;) {
        const next = await sents.next();
        if (next.done) break;
        for (let i = 0; i < next.value.length; i++) {
          const row = next.value[i] as Row;
          const key = groupKey(row);
          if (sent.has(key)) continue;
          if (hold(row)) sent.set(key, row);
          else {
            const restSent = restOf(next.value.slice(i), sents);
            yield* split(counts, sent, nothingLeft(), restSent, restOf([], lefts), level);
            return;
          }
        }
        if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
      }
      for (;;) {
        const next = await lefts.next();
        if (next.done) break;
        let out: Row[] = [];
        for (let i = 0; i < next.value.length; i++) {
          const row = next.value[i] as Row;
          const key = groupKey(row);
          const match = counts.get(key);
          if (node.all) {
            // Each match is used up once; nothing more is held.
            if (match && match.n > 0) {
              match.n--;
              if (intersect) out.push(row);
            } else if (!intersect) out.push(row);
            continue;
          }
          if (sent.has(key) || (match !== undefined) !== intersect) continue;
          if (!hold(row)) {
            if (out.length > 0) yield out;
            out = [];
            const restLeft = restOf(next.value.slice(i), lefts);
            yield* split(counts, sent, nothingLeft(), emptyStream(), restLeft, level);
            return;
          }
          sent.set(key, row);
          out.push(row);
        }
        if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
        if (out.length > 0) yield out;
      }
    } finally {
      share.release();
      await Promise.all([
        rights.return?.(undefined),
        sents.return?.(undefined),
        lefts.return?.(undefined),
      ]);
    }
  }

  /** What is held and what is left of each input, into the next level's partitions, one by one. */
  async function* split(
    counts: Map<unknown, Counted>,
    sent: Map<unknown, Row>,
    right: { rows: AsyncIterable<Row[]>; counted: boolean },
    restSent: AsyncIterable<Row[]>,
    left: AsyncIterable<Row[]>,
    level: number,
  ): AsyncGenerator<Row[]> {
    share.release();
    const withCounts = right.counted ? right.rows : countedOnce(right.rows);
    // Each held count becomes a row with its count as it is written, not all of them at once.
    const heldCounts = batchesOf(counts.values(), ({ row, n }) => [...row, n]);
    const rightRuns = await partition({ first: heldCounts, rest: withCounts }, level, (r) =>
      r.slice(0, width),
    );
    counts.clear();
    const heldSent = batchesOf(sent.values(), (row) => row);
    const sentRuns = await partition({ first: heldSent, rest: restSent }, level, (r) => r);
    sent.clear();
    const leftRuns = await partition({ first: [], rest: left }, level, (r) => r);
    for (let p = 0; p < PARTITIONS; p++) {
      const [rightRun, sentRun, leftRun] = [rightRuns[p], sentRuns[p], leftRuns[p]];
      // A partition without left rows sends nothing on.
      if (leftRun) {
        const input: PassInput = {
          right: rightRun?.read() ?? emptyStream(),
          counted: true,
          sent: sentRun?.read() ?? emptyStream(),
          left: leftRun.read(),
        };
        yield* pass(input, level + 1);
      }
      await Promise.all([rightRun?.remove(), sentRun?.remove(), leftRun?.remove()]);
    }
  }

  /** Partitions by the row's value (a counted right row's without its count). */
  const partition = (
    input: { first: Iterable<Row[]>; rest: AsyncIterable<Row[]> },
    level: number,
    valueIn: (row: Row) => Row,
  ) => partitionRows(exec, what, share, level, input, (row) => groupKey(valueIn(row)), splits);

  async function* countedOnce(rows: AsyncIterable<Row[]>): AsyncGenerator<Row[]> {
    for await (const batch of rows) yield batch.map((row) => [...row, 1]);
  }

  try {
    yield* pass({ right, counted: false, sent: emptyStream(), left }, 0);
  } finally {
    share.release();
    await removeSplits(splits);
  }
}

/** The right input once it has been read to its end. */
function nothingLeft(): { rows: AsyncIterable<Row[]>; counted: boolean } {
  return { rows: emptyStream(), counted: true };
}

/** Rows made from `items` a batch at a time. */
function* batchesOf<T>(items: Iterable<T>, toRow: (item: T) => Row): Generator<Row[]> {
  let batch: Row[] = [];
  for (const item of items) {
    batch.push(toRow(item));
    if (batch.length >= 256) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
