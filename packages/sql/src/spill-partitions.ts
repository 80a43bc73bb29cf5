/**
 * Partitions on disk for an operator that spills by key (a hash join, DISTINCT): rows split by a
 * hash of their key into runs of their own, so that each partition fits in memory when it is
 * worked through. Equal keys always land in the same partition; each level of splitting hashes
 * differently, so a partition still too big splits again instead of landing whole in one
 * partition of the next level.
 */
import type { MemoryShare } from "./budget.ts";
import type { Execution } from "./exec.ts";
import { rowHeapBytes, SLOT_BYTES } from "./heap-size.ts";
import type { SpillRun, SpillSpace, SpillWriter } from "./spill.ts";
import type { Row } from "./types.ts";

/** Partitions per split: 32 turns a build side 32 times the memory limit into ones that fit. */
export const PARTITIONS = 32;

/**
 * Where the rows without a key (a NULL join key) go: a run after the partitions. They match
 * nothing, so they are never split, however many there are.
 */
export const KEYLESS = PARTITIONS;

/** Fewest rows an operator holds before splitting is worth it; fewer at the limit is TOO_LARGE. */
export const MIN_SPLIT_ROWS = 1_000;

/** Levels of splitting before a partition still too big (one key's rows) is TOO_LARGE. */
export const MAX_SPLIT_LEVEL = 3;

/** Rows a partition gathers before they are written as one frame. */
const BUFFER_ROWS = 256;

/**
 * The partition of a key (as `compositeKey` or `groupKey` makes it: a number, string, boolean or
 * symbol) at a level of splitting: FNV-1a over its text from a level's own offset, then mixed (murmur3's
 * finalizer) so every bit counts.
 */
export function partitionOf(key: unknown, level: number): number {
  const text = String(key);
  let h = (0x811c9dc5 ^ Math.imul(level + 1, 0x9e3779b9)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % PARTITIONS;
}

/**
 * Writes rows into one run per partition. A partition's rows wait in a small buffer, counted in
 * the join's memory share, until a frame's worth is written; all buffers are written when the
 * statement's memory is short. Runs not finished are removed by `abandon`.
 */
export class Partitioner {
  readonly #space: SpillSpace;
  readonly #what: string;
  readonly #level: number;
  readonly #share: MemoryShare;
  // One run per partition, and after them KEYLESS's.
  readonly #writers: (SpillWriter<Row> | undefined)[] = new Array(KEYLESS + 1).fill(undefined);
  readonly #buffers: Row[][] = Array.from({ length: KEYLESS + 1 }, () => []);
  readonly #bufferBytes: number[] = new Array(KEYLESS + 1).fill(0);
  #finished = false;

  constructor(space: SpillSpace, what: string, level: number, share: MemoryShare) {
    this.#space = space;
    this.#what = what;
    this.#level = level;
    this.#share = share;
  }

  /** Adds a row whose key is `key`; a row without one (a NULL join key) goes to KEYLESS's run. */
  async add(key: unknown, row: Row): Promise<void> {
    const p = key === undefined ? KEYLESS : partitionOf(key, this.#level);
    const bytes = rowHeapBytes(row) + SLOT_BYTES;
    if (!this.#share.fits(1, bytes)) {
      for (let q = 0; q <= KEYLESS; q++) await this.#flush(q);
    }
    this.#share.take(1, bytes);
    const buffer = this.#buffers[p] as Row[];
    buffer.push(row);
    this.#bufferBytes[p] = (this.#bufferBytes[p] as number) + bytes;
    if (buffer.length >= BUFFER_ROWS) await this.#flush(p);
  }

  async #flush(p: number): Promise<void> {
    const buffer = this.#buffers[p] as Row[];
    if (buffer.length === 0) return;
    let writer = this.#writers[p];
    if (writer === undefined) {
      writer = await this.#space.openWriter<Row>(this.#what);
      this.#writers[p] = writer;
    }
    await writer.append(buffer);
    this.#share.give(buffer.length, this.#bufferBytes[p] as number);
    this.#buffers[p] = [];
    this.#bufferBytes[p] = 0;
  }

  /**
   * Writes what is buffered and closes the runs: one per partition, then KEYLESS's; none where
   * no row went.
   */
  async finish(): Promise<(SpillRun<Row> | undefined)[]> {
    const runs: (SpillRun<Row> | undefined)[] = [];
    for (let p = 0; p <= KEYLESS; p++) {
      await this.#flush(p);
      runs.push(await this.#writers[p]?.finish());
    }
    this.#finished = true;
    return runs;
  }

  /** Removes the runs of a partitioning that did not finish (the statement ended meanwhile). */
  async abandon(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    await Promise.all(this.#writers.map((w) => w?.abandon()));
  }
}

/** What an operator that splits keeps track of, to remove every run when it ends. */
export interface SplitState {
  partitioners: Partitioner[];
  runs: SpillRun<Row>[];
}

/**
 * Writes the batches of `first`, then of `rest`, into one level's partitions by `keyOf`,
 * handing the event loop back as the pacer asks: the runs, one per partition (none where no row
 * went), also kept in `state` with the partitioner.
 */
export async function partitionRows(
  exec: Execution,
  what: string,
  share: MemoryShare,
  level: number,
  input: { first: Iterable<Row[]>; rest: AsyncIterable<Row[]> },
  keyOf: (row: Row) => unknown,
  state: SplitState,
): Promise<(SpillRun<Row> | undefined)[]> {
  const space = exec.spill;
  if (!space) throw new Error(`${what} spilled without a spill space`);
  const parts = new Partitioner(space, what, level, share);
  state.partitioners.push(parts);
  const add = async (batch: Row[]) => {
    for (const row of batch) await parts.add(keyOf(row), row);
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
  };
  for (const batch of input.first) await add(batch);
  for await (const batch of input.rest) await add(batch);
  const done = await parts.finish();
  for (const run of done) if (run) state.runs.push(run);
  return done;
}

/** Abandons the partitionings that did not finish and removes every run. */
export async function removeSplits(state: SplitState): Promise<void> {
  await Promise.all(state.partitioners.map((p) => p.abandon()));
  await Promise.all(state.runs.map((r) => r.remove()));
}

/** A batch's unread part, then the rest of its stream: what an operator hands on when it splits. */
export async function* restOf(head: Row[], tail: AsyncIterator<Row[]>): AsyncGenerator<Row[]> {
  yield head;
  for (;;) {
    const next = await tail.next();
    if (next.done) return;
    yield next.value;
  }
}

export async function* emptyStream(): AsyncGenerator<Row[]> {}
