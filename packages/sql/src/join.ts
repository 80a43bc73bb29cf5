/**
 * The hash join: builds one side into a table held within the statement's memory budget, then
 * streams the other side through it. Output goes out in batches of at most `batchRows` however
 * many rows a probe row matches, so a cross join or a deep tree of joins streams instead of
 * multiplying its batches level by level.
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

export async function* runJoin(
  join: JoinNode,
  exec: Execution,
  ctx: EvalContext,
  open: OpenInput,
): AsyncGenerator<Row[]> {
  const buildLeft = join.build === "left";
  const buildNode = buildLeft ? join.left : join.right;
  const probeNode = buildLeft ? join.right : join.left;
  const buildKeys = (buildLeft ? join.leftKeys : join.rightKeys).map((k) => compile(k, ctx));
  const probeKeys = (buildLeft ? join.rightKeys : join.leftKeys).map((k) => compile(k, ctx));
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

  // Without a dynamic filter the probe's query starts while the build side is read.
  let probe: AsyncGenerator<Row[]> | undefined;
  let firstProbe: Promise<IteratorResult<Row[]>> | undefined;
  if (!join.dynamicFilter) {
    probe = open(probeNode);
    firstProbe = probe.next();
    firstProbe.catch(() => {});
  }
  try {
    let table: BuildTable;
    try {
      table = await buildSide(open(buildNode), buildKeys, exec, share, preserveBuild);
    } catch (err) {
      // The probe's statement already runs; end it so its connection goes back to the pool.
      await probe?.return(undefined).catch(() => {});
      throw err;
    }
    if (join.dynamicFilter && (probeNode.kind === "scan" || probeNode.kind === "union")) {
      if (table.rows.length === 0 && !preserveBuild) return;
      const keyFn = buildKeys[join.dynamicFilter.keyIndex];
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
          : open(probeNode, { column: join.dynamicFilter.column, values: [...distinct.values()] });
    } else if (!probe) {
      probe = open(probeNode);
    }

    const combine = buildLeft
      ? (b: Row | undefined, p: Row | undefined) => concatRows(b, leftWidth, p, rightWidth)
      : (b: Row | undefined, p: Row | undefined) => concatRows(p, leftWidth, b, rightWidth);
    /** One probe batch's output, in batches of at most `batchRows`. */
    async function* matches(batch: Row[]): AsyncGenerator<Row[]> {
      let out: Row[] = [];
      for (const p of batch) {
        const key = compositeKey(probeKeys.map((k) => k(p)));
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
    try {
      if (firstProbe) {
        const first = await firstProbe;
        if (!first.done) yield* matches(first.value);
        if (first.done) probe = emptyStream();
      }
      for await (const batch of probe) yield* matches(batch);
    } finally {
      await probe.return(undefined);
    }
    if (preserveBuild && table.matched) {
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
  } finally {
    share.release();
  }
}

async function* emptyStream(): AsyncGenerator<Row[]> {}

function concatRows(l: Row | undefined, lw: number, r: Row | undefined, rw: number): Row {
  const row = new Array<Value>(lw + rw);
  if (l) for (let i = 0; i < lw; i++) row[i] = l[i];
  else for (let i = 0; i < lw; i++) row[i] = null;
  if (r) for (let i = 0; i < rw; i++) row[lw + i] = r[i];
  else for (let i = 0; i < rw; i++) row[lw + i] = null;
  return row;
}

async function buildSide(
  input: AsyncGenerator<Row[]>,
  keys: ((r: Row) => Value)[],
  exec: Execution,
  share: MemoryShare,
  trackMatches: boolean,
): Promise<BuildTable> {
  const buckets = new Map<unknown, Row[]>();
  const rows: Row[] = [];
  // Each row: itself, its slot in `rows` and in its bucket, and maybe a matched mark; each key
  // a hash entry and its bucket.
  const perRow = 2 * SLOT_BYTES + (trackMatches ? HASH_ENTRY_BYTES : 0);
  const perKey = HASH_ENTRY_BYTES + arrayHeapBytes(0);
  for await (const batch of input) {
    for (const r of batch) {
      const key = compositeKey(keys.map((k) => k(r)));
      const bucket = key === undefined ? undefined : buckets.get(key);
      const fresh = key !== undefined && !bucket;
      share.take(1, rowHeapBytes(r) + perRow + (fresh ? perKey : 0));
      rows.push(r);
      if (bucket) bucket.push(r);
      else if (fresh) buckets.set(key, [r]);
    }
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
  }
  return trackMatches ? { buckets, rows, matched: new Set() } : { buckets, rows };
}
