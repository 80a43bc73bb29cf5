/**
 * Statements a plan sends more than once: a CTE named twice is bound twice (TPC-H Q15's revenue
 * per supplier, read for its maximum and again for the join), and each binding renders the same
 * statement. Those expected to answer few rows are marked `shared`: the executor reads them once
 * and hands each use the same rows (exec.ts readShared), as PostgreSQL materializes a CTE named
 * more than once — which also gives every use the same answer where the source's data changes
 * meanwhile.
 */
import type { PlanNode, QueryPlan, RemoteNode } from "./plan.ts";
import { forEachNode } from "./plan-walk.ts";
import type { SourceStatement, Value } from "./types.ts";

/** Rows a shared read is expected to stay within; the executor holds them for the statement. */
export const SHARED_READ_ROWS = 10_000;

/**
 * Marks, in place, the remote statements the plan sends more than once unchanged with how many
 * times. Subqueries that run only when a filter asks for them (`deferred`) are left out: they may
 * never run, and a use that never comes would hold the rows to the end.
 */
export function markSharedReads(plan: QueryPlan): QueryPlan {
  const uses = new Map<string, RemoteNode[]>();
  const count = (node: PlanNode) => {
    // A statement narrowed at run time by keys is a different statement each time.
    if (node.kind !== "remote" || node.keysOf || node.keyFilterable) return;
    if (node.estimate > SHARED_READ_ROWS) return;
    const key = statementKey(node.source, node.statement);
    uses.set(key, [...(uses.get(key) ?? []), node]);
  };
  const alwaysRun = plan.subqueries.filter((_, i) => !plan.deferred?.has(i));
  for (const node of [plan.root, ...alwaysRun]) forEachNode(node, count);
  for (const nodes of uses.values()) {
    if (nodes.length > 1) for (const node of nodes) node.shared = nodes.length;
  }
  return plan;
}

/** The same text and values, of the same types, to the same source: the same rows. */
export function statementKey(source: string, statement: SourceStatement): string {
  return JSON.stringify([source, statement.sql, statement.params.map(valueKey)]);
}

function valueKey(v: Value): [string, string] {
  return [typeof v, v instanceof Uint8Array ? Buffer.from(v).toString("hex") : String(v)];
}
