/**
 * A filter that reads deferred subqueries (reduce.ts) runs them itself: it reads its input
 * first, and when that ends within `dynamicFilterMaxKeys` rows and the memory budget, runs each
 * subquery for the distinct outer keys among those rows — the reduced plan, whose scan is handed
 * them — else whole, as if it had run first. Then it filters what it read and what follows.
 */
import { visit } from "./bind.ts";
import { compile, compilePredicate, type EvalContext, type SubqueryResult } from "./evaluate.ts";
import type { Execution } from "./exec.ts";
import { HASH_ENTRY_BYTES, rowHeapBytes, SLOT_BYTES, valueHeapBytes } from "./heap-size.ts";
import type { Expr, PlanNode, Reduction } from "./plan.ts";
import type { Row, Value } from "./types.ts";
import { keyOf } from "./values.ts";

/** How many times what a filter holds must fit the statement's memory (see below). */
const HEADROOM = 4;

type FilterNode = Extract<PlanNode, { kind: "filter" }>;
type Waiting = Extract<Expr, { k: "exists" | "scalarSub" }> & { keys: Expr[] };

/** How the filter runs plans: its input, and a subquery to its result. */
export interface FilterIo {
  run(node: PlanNode): AsyncGenerator<Row[]>;
  subquery(node: PlanNode): Promise<SubqueryResult>;
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
  const input = io.run(node.input);
  const share = exec.memory.share("rows waiting for a subquery's keys");
  const cap = exec.limits.dynamicFilterMaxKeys;
  const held: Row[] = [];
  let ended = false;
  /** A batch read past the budget: it goes on with the rest, unheld. */
  let beyond: Row[] | undefined;
  try {
    while (held.length < cap) {
      const next = await input.next();
      if (next.done) {
        ended = true;
        break;
      }
      let bytes = 0;
      for (const r of next.value) bytes += rowHeapBytes(r) + SLOT_BYTES;
      // Held only while the statement could hold them HEADROOM times over: should the
      // subquery run whole after all, its result needs the room it had before.
      const now = share.held;
      const rows = now.rows + next.value.length;
      if (!share.fits(rows * HEADROOM - now.rows, (now.bytes + bytes) * HEADROOM - now.bytes)) {
        beyond = next.value;
        break;
      }
      share.take(next.value.length, bytes);
      for (const r of next.value) held.push(r);
      if (exec.pacer.due(next.value.length)) await exec.pacer.pause();
    }
    // Side by side (Q21 has two), each finished before the filter goes on, failed or not.
    const runs = await Promise.allSettled(
      waiting.map(async (w) => {
        const { plans, roles } = ctx.deferred as NonNullable<EvalContext["deferred"]>;
        const role = roles.get(w.sub);
        const reduction = role?.role === "at filter" ? role.reduction : undefined;
        const keys = ended && reduction ? await outerKeys(w, held, exec, ctx) : undefined;
        ctx.subqueries[w.sub] =
          keys && reduction && keys.size < (plans[w.sub] as PlanNode).estimate
            ? await runReduced(reduction, keys, exec, ctx, io)
            : await io.subquery(plans[w.sub] as PlanNode);
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

/** The distinct non-NULL values of the subquery's first outer key over the rows; undefined past the cap. */
async function outerKeys(
  w: Waiting,
  rows: Row[],
  exec: Execution,
  ctx: EvalContext,
): Promise<Map<unknown, Value> | undefined> {
  const key = compile(w.keys[0] as Expr, ctx);
  const values = new Map<unknown, Value>();
  for (let i = 0; i < rows.length; i++) {
    const v = key(rows[i] as Row);
    if (v === null || v === undefined) continue;
    const k = keyOf(v);
    if (!values.has(k)) values.set(k, v);
    if (exec.pacer.due()) await exec.pacer.pause();
  }
  return values.size <= exec.limits.dynamicFilterMaxKeys ? values : undefined;
}

/** The subquery for these keys only: its key list filled, then its reduced plan run. */
async function runReduced(
  reduction: Reduction,
  keys: Map<unknown, Value>,
  exec: Execution,
  ctx: EvalContext,
  io: FilterIo,
): Promise<SubqueryResult> {
  // No outer row: the subquery is never asked, and no key of it is read.
  if (keys.size === 0) return { rows: [], keys: new Set(), hasNull: false };
  const share = exec.memory.share("a subquery's outer keys");
  for (const v of keys.values()) share.take(0, HASH_ENTRY_BYTES + valueHeapBytes(v));
  ctx.subqueries[reduction.keyList] = {
    rows: [...keys.values()].map((v) => [v]),
    keys: new Set(keys.keys()),
    hasNull: false,
  };
  const plans = (ctx.deferred as NonNullable<EvalContext["deferred"]>).plans;
  return io.subquery(plans[reduction.plan] as PlanNode);
}
