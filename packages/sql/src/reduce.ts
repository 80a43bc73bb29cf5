/**
 * Semi-join reduction of decorrelated subqueries, planned. A correlated EXISTS or scalar
 * subquery is bound as one statement over every key (`SELECT keys, value … GROUP BY keys`), run
 * before the root — TPC-H Q17 computes 20,000 parts' averages for the 30 parts it keeps, Q21 a
 * key set over every order. Where the binder could also restrict the subquery to a list of
 * keys (plan.ts `Reduction`) and one filter alone reads it, the subquery waits for that filter:
 * the executor (exec-reduce.ts) reads the filter's input first and, when it ended with few
 * keys, runs the reduced plan for those keys only — a scan handed them, as a join's probe side
 * is. (Trino and PostgreSQL reach the same by planning the subquery as a semi join.)
 */
import { visit } from "./bind.ts";
import type { Deferred, Expr, JoinNode, PlanNode, QueryPlan } from "./plan.ts";
import { forEachNode, mapInputs } from "./plan-walk.ts";

type Reducible = Extract<Expr, { k: "exists" | "scalarSub" }> & {
  reduce: NonNullable<Extract<Expr, { k: "exists" }>["reduce"]>;
};

/** The plan with its reducible subqueries deferred to their filters (`QueryPlan.deferred`). */
export function planReductions(plan: QueryPlan): QueryPlan {
  const reducible = reducibleIn(plan);
  if (reducible.length === 0) return plan;
  const root = liftReducibleResiduals(plan.root);
  const subqueries = plan.subqueries.map(liftReducibleResiduals);
  const uses = new Map<number, { count: number; inFilter: boolean }>();
  for (const node of [root, ...subqueries]) {
    forEachNode(node, (n) => {
      for (const e of expressionsOf(n)) {
        visit(e, (x) => {
          if (x.k !== "exists" && x.k !== "scalarSub") return;
          const use = uses.get(x.sub);
          const inFilter = n.kind === "filter" && e === n.predicate;
          if (use) use.count++;
          else uses.set(x.sub, { count: 1, inFilter });
        });
      }
    });
  }
  const deferred = new Map<number, Deferred>();
  for (const x of reducible) {
    const use = uses.get(x.sub);
    const { plan: reduced, keyList } = x.reduce;
    if (use?.count === 1 && use.inFilter) {
      deferred.set(x.sub, { role: "at filter", reduction: x.reduce });
      deferred.set(reduced, { role: "reduction", of: x.sub });
      deferred.set(keyList, { role: "key list", of: x.sub });
    } else {
      deferred.set(reduced, { role: "unused" });
      deferred.set(keyList, { role: "unused" });
    }
  }
  return { ...plan, root, subqueries, deferred };
}

/** The reducible subquery expressions a plan holds, each once. */
function reducibleIn(plan: QueryPlan): Reducible[] {
  const found = new Map<number, Reducible>();
  for (const node of [plan.root, ...plan.subqueries]) {
    forEachNode(node, (n) => {
      for (const e of expressionsOf(n)) {
        visit(e, (x) => {
          if ((x.k === "exists" || x.k === "scalarSub") && x.reduce)
            found.set(x.sub, x as Reducible);
        });
      }
    });
  }
  return [...found.values()];
}

/**
 * An inner join checks a reducible subquery as part of its ON condition when the binder put it
 * there (`p_partkey = ps_partkey AND ps_supplycost = (SELECT min …)`): it becomes a filter on
 * the join's rows, the same rows, where it can wait for all of them.
 */
function liftReducibleResiduals(node: PlanNode): PlanNode {
  const lifted = mapInputs(node, liftReducibleResiduals);
  if (lifted.kind !== "join" || lifted.type !== "inner" || !lifted.residual) return lifted;
  const conjuncts = lifted.residual.k === "and" ? lifted.residual.args : [lifted.residual];
  const reducing = conjuncts.filter(holdsReducible);
  if (reducing.length === 0) return lifted;
  const kept = conjuncts.filter((c) => !reducing.includes(c));
  const join: JoinNode = { ...lifted };
  if (kept.length === 0) delete join.residual;
  else
    join.residual =
      kept.length === 1 ? (kept[0] as Expr) : { k: "and", args: kept, type: "boolean" };
  const predicate: Expr =
    reducing.length === 1 ? (reducing[0] as Expr) : { k: "and", args: reducing, type: "boolean" };
  return { kind: "filter", input: join, predicate, columns: join.columns, estimate: join.estimate };
}

function holdsReducible(e: Expr): boolean {
  let found = false;
  visit(e, (x) => {
    if ((x.k === "exists" || x.k === "scalarSub") && x.reduce) found = true;
  });
  return found;
}

/** Every expression a node evaluates (or has its source evaluate). */
function expressionsOf(node: PlanNode): Expr[] {
  switch (node.kind) {
    case "scan":
      return [...node.pushed, ...node.local];
    case "filter":
      return [node.predicate];
    case "project":
      return node.exprs;
    case "join":
      return [...node.leftKeys, ...node.rightKeys, ...(node.residual ? [node.residual] : [])];
    case "aggregate":
      return [
        ...node.groups,
        ...node.aggs.flatMap((a) => [...(a.arg ? [a.arg] : []), ...(a.weight ? [a.weight] : [])]),
      ];
    case "sort":
      return node.keys.map((k) => k.expr);
    case "window":
      return node.windows.flatMap((w) => [
        ...w.args,
        ...w.partition,
        ...w.order.map((k) => k.expr),
      ]);
    case "values":
      return node.rows.flat();
    default:
      return [];
  }
}
