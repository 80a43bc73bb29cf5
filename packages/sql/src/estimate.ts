/** Row estimates from source statistics: they pick build sides and decide dynamic filtering. */
import type { Expr, JoinNode, PlanNode, ScanNode } from "./plan.ts";

const DEFAULT_ROWS = 1000;

/** Selectivity of one predicate over a table, from distinct counts where the source has them. */
export function selectivity(e: Expr, scan: ScanNode): number {
  const distinctOf = (x: Expr) => (x.k === "col" ? columnDistinct(scan, x.i) : undefined);
  switch (e.k) {
    case "cmp": {
      const col = e.l.k === "col" ? e.l : e.r.k === "col" ? e.r : undefined;
      if (e.op === "=") {
        const d = col ? distinctOf(col) : undefined;
        return d ? 1 / d : 0.1;
      }
      if (e.op === "<>") return 0.9;
      return 0.33;
    }
    case "in": {
      const d = distinctOf(e.e);
      const s = d ? e.list.length / d : 0.1 * e.list.length;
      return Math.min(1, e.not ? 1 - s : s);
    }
    case "between":
      return e.not ? 0.75 : 0.25;
    case "isnull":
      return e.not ? 0.95 : 0.05;
    case "like":
      return e.not ? 0.9 : 0.1;
    case "and":
      return e.args.reduce((s, a) => s * selectivity(a, scan), 1);
    case "or":
      return Math.min(
        1,
        e.args.reduce((s, a) => s + selectivity(a, scan), 0),
      );
    case "not":
      return 1 - selectivity(e.e, scan);
    default:
      return 0.5;
  }
}

export function estimateScan(scan: ScanNode): number {
  const rows = scan.table.rowCount ?? DEFAULT_ROWS;
  const s = [...scan.pushed, ...scan.local].reduce((acc, p) => acc * selectivity(p, scan), 1);
  const est = Math.max(1, Math.round(rows * s));
  return scan.limit !== undefined ? Math.min(est, scan.limit) : est;
}

export function estimateJoin(join: JoinNode): number {
  const l = join.left.estimate;
  const r = join.right.estimate;
  if (join.leftKeys.length === 0) return join.type === "cross" ? l * r : Math.max(l, r);
  // Key–foreign-key joins return about as many rows as the larger side.
  const inner = Math.max(l, r);
  if (join.type === "left") return Math.max(inner, l);
  if (join.type === "right") return Math.max(inner, r);
  if (join.type === "full") return l + r;
  return inner;
}

/**
 * The groups of GROUP BY keys over an input: the product of the keys' distinct counts where each
 * key is a column whose table has one (TPC-H Q1's flag and status: 3 × 2), at most the input's
 * rows; otherwise a tenth of those.
 */
export function estimateGroups(groups: readonly Expr[], input: PlanNode): number {
  if (groups.length === 0) return 1;
  const product = groupsAtMost(groups, input);
  if (product === undefined) return Math.max(1, Math.round(input.estimate / 10));
  return Math.max(1, Math.min(input.estimate, Math.round(product)));
}

/**
 * At most how many groups of non-NULL keys GROUP BY makes over an input, whatever filters it
 * has: the product of the keys' distinct counts in their tables; undefined where a key has none.
 */
function groupsAtMost(groups: readonly Expr[], input: PlanNode): number | undefined {
  let product = 1;
  for (const g of groups) {
    const d = g.k === "col" ? distinctAt(input, g.i) : undefined;
    if (d === undefined) return undefined;
    product *= d;
  }
  return product;
}

/** The distinct count of column `i` of a node's rows, traced to its table's statistics. */
function distinctAt(node: PlanNode, i: number): number | undefined {
  switch (node.kind) {
    case "scan":
      return columnDistinct(node, i);
    case "join": {
      const width = node.left.columns.length;
      return i < width ? distinctAt(node.left, i) : distinctAt(node.right, i - width);
    }
    case "filter":
      return distinctAt(node.input, i);
    case "project": {
      const e = node.exprs[i];
      return e?.k === "col" ? distinctAt(node.input, e.i) : undefined;
    }
    default:
      return undefined;
  }
}

/** The distinct values a scan's column has in its table, where the source counts them. */
function columnDistinct(scan: ScanNode, i: number): number | undefined {
  const name = scan.columns[i]?.name;
  const d = name === undefined ? undefined : scan.table.distinct?.[name];
  return d && d > 0 ? d : undefined;
}
