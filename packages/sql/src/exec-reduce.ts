/**
 * A filter that reads deferred subqueries (reduce.ts) runs them itself: it reads its input
 * first, and when that ends within `dynamicFilterMaxKeys` rows and its share of memory, with
 * fewer distinct outer keys than a subquery's estimated rows, runs the subquery for those keys
 * only — the reduced plan, whose scan is handed them — else whole, as if it had run first. Then
 * it filters what it read and what follows.
 */
import { exprKey, visit } from "./bind.ts";
import type { MemoryShare } from "./budget.ts";
import { compile, compilePredicate, type EvalContext, type SubqueryResult } from "./evaluate.ts";
import type { Execution } from "./exec.ts";
import { HASH_ENTRY_BYTES, rowHeapBytes, SLOT_BYTES } from "./heap-size.ts";
import type { Expr, PlanNode, Reduction } from "./plan.ts";
import type { Row, Value } from "./types.ts";
import { keyOf } from "./values.ts";

/**
 * Rows are held only while they would fit this many times over in what the statement has left:
 * a subquery that runs whole after all still finds most of the memory it had when it ran first.
 */
const HEADROOM = 4;

type FilterNode = Extract<PlanNode, { kind: "filter" }>;
type Waiting = Extract<Expr, { k: "exists" | "scalarSub" }> & { keys: Expr[] };
type Deferred = NonNullable<EvalContext["deferred"]>;

/** How the filter runs plans: its input, and a subquery to its result held in `share`. */
export interface FilterIo {
  run(node: PlanNode): AsyncGenerator<Row[]>;
  subquery(node: PlanNode, share: MemoryShare): Promise<SubqueryResult>;
}

/** The subqueries this filter's predicate reads that wait for it, none when it is a plain filter. */
export function waitingSubqueries(predicate: Expr, ctx: EvalContext): Waiting[] {
  const roles = ctx.deferred?.roles;
  if (!roles) return [];
  const found: Waiting[] = [];
  visit(predicate, (e) => {
    if ((e.k === "exists" || e.k === "scalarSub") && roles.get(e.sub)?.role === "at filter")
      found.push(e as Waiting);
  });
  return found;
}

export async function* runReducingFilter(
  node: FilterNode,
  waiting: Waiting[],
  exec: Execution,
  ctx: EvalContext,
  io: FilterIo,
): AsyncGenerator<Row[]> {
  const deferred = ctx.deferred as Deferred;
  const input = io.run(node.input);
  const share = exec.memory.share("rows waiting for a subquery's keys");
  const cap = exec.limits.dynamicFilterMaxKeys;
  const held: Row[] = [];
  let ended = false;
  /** The batch read past the key cap or the memory share: it goes on with the rest, unheld. */
  let beyond: Row[] | undefined;
  try {
    for (;;) {
      const next = await input.next();
      if (next.done) {
        ended = true;
        break;
      }
      let bytes = 0;
      for (const r of next.value) bytes += rowHeapBytes(r) + SLOT_BYTES;
      const now = share.held;
      const rows = now.rows + next.value.length;
      const fits = share.fits(
        rows * HEADROOM - now.rows,
        (now.bytes + bytes) * HEADROOM - now.bytes,
      );
      if (rows > cap || !fits) {
        beyond = next.value;
        break;
      }
      share.take(next.value.length, bytes);
      for (const r of next.value) held.push(r);
      if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
    }
    // Subqueries keyed by the same outer expression (Q21's two, by l_orderkey) share its keys.
    const keysOf = new Map<string, Promise<Map<unknown, Value>>>();
    const outerKeysOnce = (w: Waiting) => {
      const key = exprKey(w.keys[0] as Expr);
      const known = keysOf.get(key);
      if (known) return known;
      const keys = outerKeys(w, held, exec, ctx);
      keysOf.set(key, keys);
      return keys;
    };
    // Side by side, each finished before the filter goes on, failed or not.
    const runs = await Promise.allSettled(
      waiting.map(async (w) => {
        // Run again (a spilled join reads its probe side twice): the last result is let go.
        deferred.shares.get(w.sub)?.release();
        const results = exec.memory.share("a subquery's result");
        deferred.shares.set(w.sub, results);
        const role = deferred.roles.get(w.sub);
        const reduction = role?.role === "at filter" ? role.reduction : undefined;
        const keys = ended && reduction ? await outerKeysOnce(w) : undefined;
        const whole = deferred.plans[w.sub] as PlanNode;
        ctx.subqueries[w.sub] =
          keys && reduction && keys.size < whole.estimate
            ? await runReduced(reduction, keys, results, ctx, io)
            : await io.subquery(whole, results);
      }),
    );
    for (const r of runs) if (r.status === "rejected") throw r.reason;
    const predicate = compilePredicate(node.predicate, ctx);
    const batchRows = exec.limits.batchRows;
    for (let i = 0; i < held.length; i += batchRows) {
      const out = held.slice(i, i + batchRows).filter(predicate);
      if (exec.pacer.due(batchRows)) await exec.pacer.pause();
      if (out.length > 0) yield out;
    }
    held.length = 0;
    share.release();
    if (beyond) {
      const out = beyond.filter(predicate);
      if (out.length > 0) yield out;
    }
    if (ended) return;
    for await (const batch of input) {
      const out = batch.filter(predicate);
      if (exec.pacer.due(batch.length)) await exec.pacer.pause();
      if (out.length > 0) yield out;
    }
  } finally {
    share.release();
    await input.return(undefined);
  }
}

/**
 * The distinct non-NULL values of the subquery's first outer key over the rows. A row whose key
 * fails to compute (`a / b` where the predicate's OR never reaches it) adds none: should the
 * predicate compute it, it fails there as it always did.
 */
async function outerKeys(
  w: Waiting,
  rows: Row[],
  exec: Execution,
  ctx: EvalContext,
): Promise<Map<unknown, Value>> {
  const key = compile(w.keys[0] as Expr, ctx);
  const values = new Map<unknown, Value>();
  for (const row of rows) {
    let v: Value;
    try {
      v = key(row);
    } catch {
      continue;
    }
    if (v === null || v === undefined) continue;
    const k = keyOf(v);
    if (!values.has(k)) values.set(k, v);
    if (exec.pacer.due()) await exec.pacer.pause();
  }
  return values;
}

/** The subquery for these keys only: its key list filled, then its reduced plan run. */
async function runReduced(
  reduction: Reduction,
  keys: Map<unknown, Value>,
  share: MemoryShare,
  ctx: EvalContext,
  io: FilterIo,
): Promise<SubqueryResult> {
  // No outer row has a key: no lookup can find one, and no key of the subquery is read.
  if (keys.size === 0) return { rows: [], keys: new Set(), hasNull: false };
  for (const v of keys.values()) share.take(0, rowHeapBytes([v]) + SLOT_BYTES + HASH_ENTRY_BYTES);
  ctx.subqueries[reduction.keyList] = {
    rows: [...keys.values()].map((v) => [v]),
    keys: new Set(keys.keys()),
    hasNull: false,
  };
  const plans = (ctx.deferred as Deferred).plans;
  return io.subquery(plans[reduction.plan] as PlanNode, share);
}
