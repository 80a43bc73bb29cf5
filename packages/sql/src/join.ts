/**
 * The hash join: builds one side into a table held within the statement's memory budget, then
 * streams the other side through it. Output goes out in batches of at most `batchRows` however
 * many rows a probe row matches, so a cross join or a deep tree of joins streams instead of
 * multiplying its batches level by level.
 *
 * A build side past the statement's memory limit, with spilling on, is a grace hash join: both
 * sides are split by a hash of the join key into partitions on disk (spill-partitions.ts), and
 * each partition is joined in memory in turn; a partition still too big is split again.
 */
import type { MemoryShare } from "./budget.ts";
import { compile, compilePredicate, type EvalContext } from "./evaluate.ts";
import type { Execution } from "./exec.ts";
import {
  arrayHeapBytes,
  HASH_ENTRY_BYTES,
  rowHeapBytes,
  SLOT_BYTES,
  valueHeapBytes,
} from "./heap-size.ts";
import type { JoinNode, PlanNode } from "./plan.ts";
import type { SpillRun } from "./spill.ts";
import {
  emptyStream,
  KEYLESS,
  MAX_SPLIT_LEVEL,
  MIN_SPLIT_ROWS,
  PARTITIONS,
  Partitioner,
  restOf,
} from "./spill-partitions.ts";
import type { Row, Value } from "./types.ts";
import { compositeKey, keyOf } from "./values.ts";

/** The build side's keys a join hands to its probe scan, for that scan's `column`. */
export interface ProbeKeys {
  column: number;
  values: Value[];
}

/** Opens an input's stream; a scan handed keys reads only the rows with those keys. */
export type OpenInput = (node: PlanNode, keys?: ProbeKeys) => AsyncGenerator<Row[]>;

interface BuildTable {
  buckets: Map<unknown, Row[]>;
  rows: Row[];
  matched?: Set<Row>;
}

/** A build side held in memory, or split into partitions on disk (one run each, or none). */
type Built = { table: BuildTable } | { runs: (SpillRun<Row> | undefined)[] };

/** What a spilled join wrote, removed when the join is done however it ends. */
interface SpillFiles {
  partitioners: Partitioner[];
  runs: SpillRun<Row>[];
}

export async function* runJoin(
  join: JoinNode,
  exec: Execution,
  ctx: EvalContext,
  open: OpenInput,
): AsyncGenerator<Row[]> {
  const buildLeft = join.build === "left";
  const buildNode = buildLeft ? join.left : join.right;
  const probeNode = buildLeft ? join.right : join.left;
  const buildKeyFns = (buildLeft ? join.leftKeys : join.rightKeys).map((k) => compile(k, ctx));
  const probeKeyFns = (buildLeft ? join.rightKeys : join.leftKeys).map((k) => compile(k, ctx));
  const buildKey = (r: Row) => compositeKey(buildKeyFns.map((k) => k(r)));
  const probeKey = (r: Row) => compositeKey(probeKeyFns.map((k) => k(r)));
  const leftWidth = join.left.columns.length;
  const rightWidth = join.right.columns.length;
  const residual = join.residual ? compilePredicate(join.residual, ctx) : undefined;
  const preserveBuild =
    join.type === "full" ||
    (join.type === "left" && buildLeft) ||
    (join.type === "right" && !buildLeft);
  const preserveProbe =
    join.type === "full" ||
    (join.type === "left" && !buildLeft) ||
    (join.type === "right" && buildLeft);
  const { pacer } = exec;
  const batchRows = exec.limits.batchRows;
  const share = exec.memory.share("a join's build side");
  const files: SpillFiles = { partitioners: [], runs: [] };
  const build = (input: AsyncIterable<Row[]>, level: number) =>
    buildSide(input, buildKey, { exec, share, trackMatches: preserveBuild, level, files });

  const combine = buildLeft
    ? (b: Row | undefined, p: Row | undefined) => concatRows(b, leftWidth, p, rightWidth)
    : (b: Row | undefined, p: Row | undefined) => concatRows(p, leftWidth, b, rightWidth);

  /** Probe rows through a build table, in batches of at most `batchRows`. */
  async function* probeThrough(table: BuildTable, probe: AsyncIterable<Row[]>) {
    for await (const batch of probe) yield* matches(table, batch);
  }

  /** One probe batch's output, in batches of at most `batchRows`. */
  async function* matches(table: BuildTable, batch: Row[]): AsyncGenerator<Row[]> {
    let out: Row[] = [];
    for (const p of batch) {
      const key = probeKey(p);
      const bucket = key === undefined ? undefined : table.buckets.get(key);
      let found = false;
      if (bucket) {
        for (const b of bucket) {
          // Counted per pair: a residual may reject them all, and that is work too.
          if (pacer.due()) await pacer.pause();
          const row = combine(b, p);
          if (residual && !residual(row)) continue;
          found = true;
          table.matched?.add(b);
          out.push(row);
          if (out.length >= batchRows) {
            yield out;
            out = [];
          }
        }
      }
      if (!found && preserveProbe) out.push(combine(undefined, p));
      if (pacer.due()) await pacer.pause();
      if (out.length >= batchRows) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }

  /** The build rows no probe row matched, for an outer join that keeps them. */
  async function* unmatchedBuild(table: BuildTable): AsyncGenerator<Row[]> {
    if (!preserveBuild || !table.matched) return;
    let out: Row[] = [];
    for (const b of table.rows) {
      if (pacer.due()) await pacer.pause();
      if (table.matched.has(b)) continue;
      out.push(combine(b, undefined));
      if (out.length >= batchRows) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }

  /**
   * Splits the probe side into the partitions of `level`. A probe row without a key matches
   * nothing: it goes out at once when the join keeps it, else it is dropped.
   */
  async function* partitionProbe(
    probe: AsyncIterable<Row[]>,
    level: number,
    into: { runs: (SpillRun<Row> | undefined)[] },
  ): AsyncGenerator<Row[]> {
    const space = exec.spill;
    if (!space) throw new Error("a join spilled without a spill space");
    const parts = new Partitioner(space, "a join's probe side", level, share);
    files.partitioners.push(parts);
    let out: Row[] = [];
    for await (const batch of probe) {
      for (const p of batch) {
        const key = probeKey(p);
        if (key !== undefined) await parts.add(key, p);
        else if (preserveProbe) out.push(combine(undefined, p));
      }
      if (out.length >= batchRows) {
        yield out;
        out = [];
      }
      if (pacer.due(batch.length)) await pacer.pause();
    }
    if (out.length > 0) yield out;
    into.runs = await parts.finish();
    for (const run of into.runs) if (run) files.runs.push(run);
  }

  /** Joins partition by partition; one whose build side still does not fit splits again. */
  async function* joinPartitions(
    buildRuns: (SpillRun<Row> | undefined)[],
    probeRuns: (SpillRun<Row> | undefined)[],
    level: number,
  ): AsyncGenerator<Row[]> {
    for (let p = 0; p < PARTITIONS; p++) {
      const buildRun = buildRuns[p];
      const probeRun = probeRuns[p];
      const probe = probeRun?.read() ?? emptyStream();
      if (buildRun === undefined) {
        // No build rows: only a join that keeps its probe rows has anything to say.
        if (preserveProbe) yield* probeThrough(emptyTable(), probe);
      } else {
        const built = await build(buildRun.read(), level + 1);
        if ("table" in built) {
          yield* probeThrough(built.table, probe);
          yield* unmatchedBuild(built.table);
          share.release();
        } else {
          const deeper = { runs: [] as (SpillRun<Row> | undefined)[] };
          yield* partitionProbe(probe, level + 1, deeper);
          yield* joinPartitions(built.runs, deeper.runs, level + 1);
        }
      }
      await Promise.all([buildRun?.remove(), probeRun?.remove()]);
    }
    // Build rows without a key matched nothing: kept by the join, they go out as they are.
    const keyless = buildRuns[KEYLESS];
    if (keyless) {
      for await (const batch of keyless.read()) {
        for (let i = 0; i < batch.length; i += batchRows) {
          yield batch.slice(i, i + batchRows).map((b) => combine(b, undefined));
          if (pacer.due(batchRows)) await pacer.pause();
        }
      }
      await keyless.remove();
    }
  }

  // Without a dynamic filter the probe's query starts while the build side is read.
  let probe: AsyncGenerator<Row[]> | undefined;
  let firstProbe: Promise<IteratorResult<Row[]>> | undefined;
  if (!join.dynamicFilter) {
    probe = open(probeNode);
    firstProbe = probe.next();
    firstProbe.catch(() => {});
  }
  /** The probe side from its first batch, however far it was read ahead. */
  async function* probeRows(stream: AsyncGenerator<Row[]>): AsyncGenerator<Row[]> {
    if (firstProbe) {
      const first = await firstProbe;
      if (first.done) return;
      yield first.value;
    }
    for await (const batch of stream) yield batch;
  }
  try {
    let built: Built;
    try {
      built = await build(open(buildNode), 0);
    } catch (err) {
      // The probe's statement already runs; end it so its connection goes back to the pool.
      await probe?.return(undefined).catch(() => {});
      throw err;
    }
    if (!("table" in built)) {
      // Spilled: the probe side is split the same way, every row of it (no dynamic filter: the
      // build side's keys are more than memory holds). A probe statement opened early has sat
      // idle on its connection while the build side was written: it starts again.
      await probe?.return(undefined).catch(() => {});
      firstProbe = undefined;
      probe = open(probeNode);
      const split = { runs: [] as (SpillRun<Row> | undefined)[] };
      try {
        yield* partitionProbe(probeRows(probe), 0, split);
      } finally {
        await probe.return(undefined);
      }
      yield* joinPartitions(built.runs, split.runs, 0);
      return;
    }
    const table = built.table;
    if (join.dynamicFilter && ["scan", "union", "remote"].includes(probeNode.kind)) {
      if (table.rows.length === 0 && !preserveBuild) return;
      const keyFn = buildKeyFns[join.dynamicFilter.keyIndex];
      const distinct = new Map<unknown, Value>();
      for (const r of table.rows) {
        const v = keyFn ? keyFn(r) : undefined;
        if (v === null || v === undefined) continue;
        const k = keyOf(v);
        if (distinct.has(k)) continue;
        share.take(0, HASH_ENTRY_BYTES + valueHeapBytes(v));
        distinct.set(k, v);
        if (pacer.due()) await pacer.pause();
      }
      probe =
        distinct.size === 0
          ? emptyStream()
          : keysCoverMuch(distinct.size, probeNode)
            ? open(probeNode)
            : open(probeNode, {
                column: join.dynamicFilter.column,
                values: [...distinct.values()],
              });
    } else if (!probe) {
      probe = open(probeNode);
    }
    try {
      yield* probeThrough(table, probeRows(probe));
    } finally {
      await probe.return(undefined);
    }
    yield* unmatchedBuild(table);
  } finally {
    share.release();
    await Promise.all(files.partitioners.map((p) => p.abandon()));
    await Promise.all(files.runs.map((r) => r.remove()));
  }
}

/**
 * Keys for a quarter or more of a probe table's rows: their lists would cost more to send, bind
 * and test than the rows they keep out (TPC-H Q5's and Q7's 7,000 customer keys for DuckDB's
 * 15,000 customers took two statements and 62 ms; the narrow table whole, a few).
 */
function keysCoverMuch(keys: number, probe: PlanNode): boolean {
  const rows = probe.kind === "scan" ? probe.table.rowCount : undefined;
  return rows !== undefined && keys >= rows / 4;
}

function emptyTable(): BuildTable {
  return { buckets: new Map(), rows: [] };
}

function concatRows(l: Row | undefined, lw: number, r: Row | undefined, rw: number): Row {
  const row = new Array<Value>(lw + rw);
  if (l) for (let i = 0; i < lw; i++) row[i] = l[i];
  else for (let i = 0; i < lw; i++) row[i] = null;
  if (r) for (let i = 0; i < rw; i++) row[lw + i] = r[i];
  else for (let i = 0; i < rw; i++) row[lw + i] = null;
  return row;
}

interface BuildOptions {
  exec: Execution;
  share: MemoryShare;
  /** An outer join keeps unmatched build rows: they are marked as they match. */
  trackMatches: boolean;
  /** Levels of splitting above this build side: 0 for the join's own. */
  level: number;
  files: SpillFiles;
}

/**
 * Reads the build side into a hash table. Past the memory limit, with spilling on and levels of
 * splitting left, it splits what it holds and the rest of its input into partitions on disk.
 * A row without a key matches nothing: it is kept only when the join keeps unmatched build rows.
 */
async function buildSide(
  input: AsyncIterable<Row[]>,
  keyOfRow: (r: Row) => unknown,
  options: BuildOptions,
): Promise<Built> {
  const { exec, share, trackMatches, level } = options;
  const buckets = new Map<unknown, Row[]>();
  const rows: Row[] = [];
  // Each row: itself, its slot in `rows` and in its bucket, and maybe a matched mark; each key
  // a hash entry and its bucket.
  const perRow = 2 * SLOT_BYTES + (trackMatches ? HASH_ENTRY_BYTES : 0);
  const perKey = HASH_ENTRY_BYTES + arrayHeapBytes(0);
  const canSpill = exec.spill !== undefined && level < MAX_SPLIT_LEVEL;
  const iterator = input[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const batch = next.value;
      for (let i = 0; i < batch.length; i++) {
        const r = batch[i] as Row;
        const key = keyOfRow(r);
        const bucket = key === undefined ? undefined : buckets.get(key);
        const fresh = key !== undefined && !bucket;
        const bytes = rowHeapBytes(r) + perRow + (fresh ? perKey : 0);
        if (canSpill && rows.length >= MIN_SPLIT_ROWS && !share.fits(1, bytes)) {
          // The rows held go to the partitions: the table lets go of them.
          buckets.clear();
          const rest = restOf(batch.slice(i), iterator);
          return { runs: await splitBuild(rows, rest, keyOfRow, options) };
        }
        share.take(1, bytes);
        rows.push(r);
        if (bucket) bucket.push(r);
        else if (fresh) buckets.set(key, [r]);
      }
      if (exec.pacer.due(batch.length)) await exec.pacer.pause();
    }
  } finally {
    // Read to its end, or given up (over the limit, the statement ended): its statement ends.
    await iterator.return?.(undefined);
  }
  return { table: trackMatches ? { buckets, rows, matched: new Set() } : { buckets, rows } };
}

/** Splits the rows held so far and the rest of the build side into the partitions of a level. */
async function splitBuild(
  held: Row[],
  rest: AsyncIterable<Row[]>,
  keyOfRow: (r: Row) => unknown,
  options: BuildOptions,
): Promise<(SpillRun<Row> | undefined)[]> {
  const { exec, share, trackMatches, level, files } = options;
  const space = exec.spill;
  if (!space) throw new Error("a join spilled without a spill space");
  const parts = new Partitioner(space, "a join's build side", level, share);
  files.partitioners.push(parts);
  // What is held is handed to the partitions' buffers, which count it again as they take it.
  share.release();
  const add = async (r: Row) => {
    const key = keyOfRow(r);
    if (key !== undefined || trackMatches) await parts.add(key, r);
  };
  for (let i = 0; i < held.length; i++) {
    await add(held[i] as Row);
    if (exec.pacer.due()) await exec.pacer.pause();
  }
  held.length = 0;
  for await (const batch of rest) {
    for (const r of batch) await add(r);
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
  }
  const runs = await parts.finish();
  for (const run of runs) if (run) files.runs.push(run);
  return runs;
}
