/**
 * Aggregation before a join (eager aggregation): GROUP BY over a join whose groups read one side
 * and whose aggregates read only the other can aggregate that other side first, grouped by its
 * join keys, and finish over the join. Each row of the grouped side then meets one partial row
 * per key instead of every row with that key, so only one row per key leaves the source that
 * aggregates it (TPC-H Q13: an order count per customer instead of every order; Q10: revenue per
 * customer instead of every returned lineitem).
 *
 * Exact for COUNT, SUM, MIN, MAX and AVG without DISTINCT: the joined pairs of one group are, for
 * each row of the grouped side, the rows of the other side with its key, and their aggregates are
 * what the partial row holds. A left join's unmatched row counts once in COUNT(*) and not at all
 * in COUNT(x), as the NULL-extended row does.
 *
 * Pure: plans in, plans out; which source aggregates the partial side is the optimizer's choice.
 */
import { mapExpr, slotsOf } from "./bind.ts";
import { estimateGroups, estimateJoin } from "./estimate.ts";
import type { AggCall, Expr, JoinNode, PlanNode } from "./plan.ts";
import { sumType } from "./shard-aggregate.ts";
import type { ColumnDef, SqlType } from "./types.ts";

type AggregateNode = Extract<PlanNode, { kind: "aggregate" }>;

export interface EagerSplit {
  /** The aggregated side, grouped by its join keys, with the partial aggregates. */
  partial: AggregateNode;
  /** The side the statement's groups read. */
  other: PlanNode;
  /** The join of the two, once each is planned, under the aggregate that finishes the groups. */
  finish(partial: PlanNode, other: PlanNode): AggregateNode & { input: JoinNode };
}

/** The aggregate split over its join's sides, or undefined where that is not exact. */
export function splitAggregateOverJoin(node: AggregateNode): EagerSplit | undefined {
  // Without GROUP BY an empty join still answers one row, where COUNT is 0 and a sum of counts
  // would be NULL.
  if (node.sets || node.groups.length === 0 || node.aggs.length === 0) return undefined;
  // Through a projection that only places columns (FROM order restored over reordered joins).
  let input = node.input;
  let place = (i: number) => i;
  if (input.kind === "project") {
    const exprs = input.exprs;
    if (!exprs.every((e) => e.k === "col")) return undefined;
    place = (i) => (exprs[i] as Extract<Expr, { k: "col" }>).i;
    input = input.input;
  }
  if (input.kind !== "join") return undefined;
  const join = input;
  if (join.type !== "inner" && join.type !== "left") return undefined;
  if (join.residual || join.leftKeys.length === 0) return undefined;
  const toJoin = (e: Expr) => mapColumns(e, place);
  const groups = node.groups.map(toJoin);
  const aggs = node.aggs.map((a) => (a.arg ? { ...a, arg: toJoin(a.arg) } : a));
  const lw = join.left.columns.length;
  const sideOf = (e: Expr): "left" | "right" | "both" | "none" => {
    const slots = [...slotsOf(e)];
    if (slots.length === 0) return "none";
    if (slots.every((s) => s < lw)) return "left";
    return slots.every((s) => s >= lw) ? "right" : "both";
  };
  // A left join's preserved side cannot be aggregated first: its unmatched rows are its own.
  const sides = join.type === "left" ? (["right"] as const) : (["right", "left"] as const);
  const side = sides.find(
    (s) =>
      aggs.every((a) => !a.arg || sideOf(a.arg) === s) &&
      groups.every((g) => {
        const at = sideOf(g);
        return at !== s && at !== "both";
      }),
  );
  if (!side) return undefined;
  const offset = side === "right" ? lw : 0;
  const plan = partialsOf(aggs, offset, join.type === "left");
  if (!plan) return undefined;
  const aggregated = side === "right" ? join.right : join.left;
  const other = side === "right" ? join.left : join.right;
  const keys = side === "right" ? join.rightKeys : join.leftKeys;
  const partial: AggregateNode = {
    kind: "aggregate",
    input: aggregated,
    groups: keys,
    aggs: plan.partials.map((p) => p.call),
    columns: [
      ...keys.map((k, i) => ({ name: `group${i}`, type: k.type })),
      ...plan.partials.map((p) => p.column),
    ],
    estimate: estimateGroups(keys, aggregated),
  };
  return {
    partial,
    other,
    finish(partialPlan, otherPlan) {
      const partialKeys = keys.map((k, i) => col(i, k.type, `group${i}`));
      const pw = partial.columns.length;
      const ow = otherPlan.columns.length;
      // Where the partial columns and the other side's columns land in the new join's rows.
      const partialAt = side === "right" ? ow : 0;
      const otherAt = (j: number) => (side === "right" ? j : j - lw + pw);
      const joined: JoinNode = {
        ...join,
        left: side === "right" ? otherPlan : partialPlan,
        right: side === "right" ? partialPlan : otherPlan,
        leftKeys: side === "right" ? join.leftKeys : partialKeys,
        rightKeys: side === "right" ? partialKeys : join.rightKeys,
        columns:
          side === "right"
            ? [...otherPlan.columns, ...partial.columns]
            : [...partial.columns, ...otherPlan.columns],
        estimate: 0,
      };
      delete joined.dynamicFilter;
      joined.estimate = estimateJoin(joined);
      return {
        kind: "aggregate",
        input: joined,
        groups: groups.map((g) => mapColumns(g, otherAt)),
        aggs: plan.finals(partialAt + keys.length),
        columns: node.columns,
        estimate: node.estimate,
      };
    },
  };
}

interface Partials {
  partials: { call: AggCall; column: ColumnDef }[];
  /** The statement's aggregates over the partial columns, the first of them at `at`. */
  finals(at: number): AggCall[];
}

/**
 * The partial aggregates (arguments moved to the aggregated side's own columns, `offset` before
 * them in the join) and how each statement aggregate finishes from them.
 */
function partialsOf(aggs: AggCall[], offset: number, outer: boolean): Partials | undefined {
  const partials: Partials["partials"] = [];
  const makers: ((column: (j: number) => Expr) => AggCall)[] = [];
  const add = (call: AggCall): number => {
    partials.push({ call, column: { name: `partial${partials.length}`, type: call.type } });
    return partials.length - 1;
  };
  for (const a of aggs) {
    if (a.distinct || a.weight || a.fn === "grouping") return undefined;
    const arg = a.arg ? mapColumns(a.arg, (i) => i - offset) : undefined;
    const withArg = arg ? { arg } : {};
    switch (a.fn) {
      case "count": {
        const n = add({ fn: "count", ...withArg, distinct: false, type: "bigint" });
        // A left join's unmatched row has no partial row: COUNT(*) counts it once, COUNT(x) not.
        const unmatched = lit(arg ? 0 : 1);
        makers.push((c) => ({
          fn: "sum",
          arg: outer ? coalesce(c(n), unmatched) : c(n),
          distinct: false,
          type: a.type,
        }));
        break;
      }
      case "sum":
      case "min":
      case "max": {
        const p = add({ ...a, ...withArg });
        makers.push((c) => ({ ...a, arg: c(p) }));
        break;
      }
      case "avg": {
        const sumArg = arg as Expr;
        const s = add({ fn: "sum", arg: sumArg, distinct: false, type: sumType(sumArg.type) });
        const n = add({ fn: "count", arg: sumArg, distinct: false, type: "bigint" });
        makers.push((c) => ({ ...a, arg: c(s), weight: c(n) }));
        break;
      }
    }
  }
  return {
    partials,
    finals(at) {
      const column = (j: number) => {
        const p = partials[j] as Partials["partials"][number];
        return col(at + j, p.column.type, p.column.name);
      };
      return makers.map((m) => m(column));
    },
  };
}

function mapColumns(e: Expr, f: (i: number) => number): Expr {
  return mapExpr(e, (x) => (x.k === "col" ? { ...x, i: f(x.i) } : undefined));
}

function col(i: number, type: SqlType, name: string): Expr {
  return { k: "col", i, type, name };
}

function lit(v: number): Expr {
  return { k: "lit", v, type: "bigint" };
}

function coalesce(e: Expr, otherwise: Expr): Expr {
  return { k: "fn", name: "coalesce", args: [e, otherwise], type: e.type };
}
