/**
 * GROUP BY over a logical table whose members are in different sources (or regions): each member
 * aggregates its own rows and the engine merges the partial results — counts and sums are
 * summed, minima and maxima compared again, and an average is Σ sums / Σ counts. So only one row
 * per group and member crosses the wire instead of every row.
 */
import type { Catalog } from "./catalog.ts";
import type { AggCall, Expr, PlanNode, RemoteNode, ScanNode } from "./plan.ts";
import { canPushAggregate, canPushGroupKey } from "./pushdown.ts";
import { renderAggregate } from "./scan-sql.ts";
import type { ColumnDef, SourceStatement, SqlType } from "./types.ts";

type AggregateNode = Extract<PlanNode, { kind: "aggregate" }>;

/** One partial aggregate every member computes, and the column it lands in. */
interface Partial {
  call: AggCall;
  column: ColumnDef;
}

/** How each aggregate of the statement is merged from the partial columns. */
interface Plan {
  partials: Partial[];
  finals: AggCall[];
}

/** The aggregate split over the members, or undefined when it cannot be split exactly. */
export function splitShardAggregate(node: AggregateNode, catalog: Catalog): PlanNode | undefined {
  const union = node.input;
  if (node.sets) return undefined;
  if (union.kind !== "union" || !union.shards || union.inputs.length === 0) return undefined;
  const scans = union.inputs.filter((i): i is ScanNode => i.kind === "scan");
  if (scans.length !== union.inputs.length) return undefined;
  if (scans.some((s) => s.local.length > 0 || s.limit !== undefined || s.orderBy)) return undefined;
  if (!node.groups.every((g) => g.k === "col")) return undefined;
  const plan = mergePlan(node);
  if (!plan) return undefined;
  const sources = scans.map((s) => catalog.source(s.table.source));
  const pushable = sources.every(
    (source) =>
      node.groups.every((g) => canPushGroupKey(g, source)) &&
      plan.partials.every((p) => canPushAggregate(p.call, source)),
  );
  if (!pushable) return undefined;
  const columns: ColumnDef[] = [
    ...node.groups.map((g, i) => ({ name: `group${i}`, type: g.type })),
    ...plan.partials.map((p) => p.column),
  ];
  const calls = plan.partials.map((p) => p.call);
  const statements = scans.map((scan, i) =>
    renderAggregate(scan, node.groups, calls, sources[i] as (typeof sources)[number]),
  );
  if (statements.some((s) => s === undefined)) return undefined;
  const members: RemoteNode[] = scans.map((scan, i) => ({
    kind: "remote",
    source: scan.table.source,
    statement: statements[i] as SourceStatement,
    columns,
    describes: `partial aggregate of ${union.shards?.read[i]?.label ?? scan.table.name}`,
    estimate: scan.estimate,
  }));
  const partials: PlanNode = {
    ...union,
    inputs: members,
    columns,
    estimate: members.reduce((n, m) => n + m.estimate, 0),
  };
  return {
    kind: "aggregate",
    input: partials,
    groups: node.groups.map((g, i) => col(i, g.type, `group${i}`)),
    aggs: plan.finals,
    columns: node.columns,
    estimate: node.estimate,
  };
}

function col(i: number, type: SqlType, name: string): Expr {
  return { k: "col", i, type, name };
}

/**
 * The partial aggregates and how each statement aggregate merges them; undefined for DISTINCT
 * aggregates (a value seen by two members would count twice) or an argument that is not a column.
 */
function mergePlan(node: AggregateNode): Plan | undefined {
  const partials: Partial[] = [];
  const finals: AggCall[] = [];
  const offset = node.groups.length;
  const add = (call: AggCall): Expr => {
    const i = partials.length;
    const column = { name: `partial${i}`, type: call.type };
    partials.push({ call, column });
    return col(offset + i, call.type, column.name);
  };
  for (const a of node.aggs) {
    if (a.distinct || a.weight || (a.arg && a.arg.k !== "col")) return undefined;
    switch (a.fn) {
      case "count": {
        const count = add({
          fn: "count",
          ...(a.arg ? { arg: a.arg } : {}),
          distinct: false,
          type: "bigint",
        });
        finals.push({ fn: "sum", arg: count, distinct: false, type: a.type });
        break;
      }
      case "sum":
      case "min":
      case "max":
        finals.push({ ...a, arg: add({ ...a }) });
        break;
      case "avg": {
        const arg = a.arg as Expr;
        const sum = add({ fn: "sum", arg, distinct: false, type: sumType(arg.type) });
        const count = add({ fn: "count", arg, distinct: false, type: "bigint" });
        finals.push({ ...a, arg: sum, weight: count });
        break;
      }
    }
  }
  return { partials, finals };
}

/** The type of SUM over a column of this type, as the engine gives it. */
export function sumType(type: SqlType): SqlType {
  if (type === "integer" || type === "null") return "bigint";
  return type === "bigint" ? "decimal" : type;
}
