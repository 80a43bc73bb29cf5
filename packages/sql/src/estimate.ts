/** Row estimates from source statistics: they pick build sides and decide dynamic filtering. */
import type { Expr, JoinNode, ScanNode } from "./plan.ts";

const DEFAULT_ROWS = 1000;

/** Selectivity of one predicate over a table, from distinct counts where the source has them. */
export function selectivity(e: Expr, scan: ScanNode): number {
  const distinctOf = (x: Expr): number | undefined => {
    if (x.k !== "col") return undefined;
    const name = scan.columns[x.i]?.name;
    const d = name === undefined ? undefined : scan.table.distinct?.[name];
    return d && d > 0 ? d : undefined;
  };
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
