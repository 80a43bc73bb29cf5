/**
 * Wide columns fetched after a top-N (late materialization). A GROUP BY that names a table's
 * primary key groups by that key alone: the table's other columns in it hold one value per group.
 * Under ORDER BY … LIMIT n, those columns are needed only for the n rows kept, so the groups are
 * found, sorted and cut by the key, and the n rows' other columns are then read by key.
 *
 * TPC-H Q10 groups revenue by customer and shows each of the top 20 customers' name, address,
 * phone and comment: 15,000 customers' text was read to show 20.
 *
 *     Limit(Sort(Project(Aggregate by pk, wide…)))
 *  →  Sort(Project(LeftJoin(Limit(Sort(Project(Aggregate by pk))), scan of the table's wide columns)))
 *
 * Exact: the key's group holds the key's one row's values, which the read by key returns. The
 * join is a left join, so a group whose key is NULL (the table on the outer side of a join)
 * keeps its row, with NULLs, as it had them.
 *
 * Pure: the bound plan in, a plan out; the optimizer then plans both reads as usual.
 */
import { mapExpr, slotsOf } from "./bind.ts";
import type { Expr, JoinNode, PlanNode, ScanNode } from "./plan.ts";
import type { ColumnDef } from "./types.ts";

type LimitNode = Extract<PlanNode, { kind: "limit" }>;
type AggregateNode = Extract<PlanNode, { kind: "aggregate" }>;
type FilterNode = Extract<PlanNode, { kind: "filter" }>;
type ProjectNode = Extract<PlanNode, { kind: "project" }>;
type SortNode = Extract<PlanNode, { kind: "sort" }>;

/** Rows kept at most: their keys are read back through a join's dynamic filter, in a few lists. */
const MAX_ROWS_KEPT = 1_000;

/** Where a column of a node's row comes from: a scanned table's column, passed on unchanged. */
interface Origin {
  scan: ScanNode;
  column: number;
}

/**
 * The plan with the wide columns read after the top-N, or undefined where the statement does not
 * have that shape, or nothing is gained: no text column to defer, or few more groups than rows
 * kept.
 */
export function fetchColumnsLate(
  limit: LimitNode,
  readableByKey: (scan: ScanNode, column: number) => boolean,
): PlanNode | undefined {
  if (limit.limit === undefined) return undefined;
  const kept = limit.limit + limit.offset;
  if (kept > MAX_ROWS_KEPT) return undefined;
  const sort = limit.input;
  if (sort.kind !== "sort" || sort.input.kind !== "project") return undefined;
  const project = sort.input;
  let having: FilterNode | undefined;
  let aggregate: PlanNode = project.input;
  if (aggregate.kind === "filter") {
    having = aggregate;
    aggregate = aggregate.input;
  }
  if (aggregate.kind !== "aggregate" || aggregate.sets) return undefined;
  if (aggregate.estimate < 2 * kept) return undefined;
  const shape = { limit, sort, project, aggregate, ...(having ? { having } : {}) };
  for (const deferral of deferrals(aggregate, readableByKey)) {
    const plan = readLate(shape, deferral);
    if (plan) return plan;
  }
  return undefined;
}

/** The statement's operators from the LIMIT down to the aggregate. */
interface TopOfGroups {
  limit: LimitNode;
  sort: SortNode;
  project: ProjectNode;
  having?: FilterNode;
  aggregate: AggregateNode;
}

/** The plan with one table's deferrable groups read after the top-N, where that gains. */
function readLate(shape: TopOfGroups, deferral: Deferral): PlanNode | undefined {
  const { limit, sort, project, having, aggregate } = shape;
  const { table, key, deferred } = deferral;
  const kept = (limit.limit ?? 0) + limit.offset;

  // Above the aggregate a deferred group may only be shown, as it is: not tested by HAVING,
  // computed with, or sorted by.
  const groupsUsed = new Set<number>();
  if (having) slotsOf(having.predicate, groupsUsed);
  project.exprs.forEach((e) => {
    if (e.k !== "col") slotsOf(e, groupsUsed);
  });
  const shown = new Map<number, number>();
  project.exprs.forEach((e, i) => {
    if (e.k === "col" && deferred.has(e.i)) shown.set(i, e.i);
  });
  if ([...deferred.keys()].some((g) => groupsUsed.has(g))) return undefined;
  if (sort.keys.some((k) => [...slotsOf(k.expr)].some((i) => shown.has(i)))) return undefined;
  // The table's columns read again: those shown (a group not shown is simply dropped).
  const fetched = new Set([...shown.values()].map((g) => deferred.get(g) as number));
  if (![...fetched].some((c) => table.columns[c]?.type === "text")) return undefined;

  // The aggregate without the deferred groups (the others, then the aggregates, in order), over
  // a scan of the table that no longer reads their columns.
  const groupCount = aggregate.groups.length;
  const keptGroups = aggregate.groups.flatMap((_, g) => (deferred.has(g) ? [] : [g]));
  const newSlot = new Map<number, number>([
    ...keptGroups.map((g, i): [number, number] => [g, i]),
    ...aggregate.aggs.map((_, a): [number, number] => [groupCount + a, keptGroups.length + a]),
  ]);
  const slimmed: ScanNode = {
    ...table,
    needed: table.needed.map((n, c) => ([...deferred.values()].includes(c) ? 0 : n)),
  };
  const narrowed: AggregateNode = {
    ...aggregate,
    input: replaceScan(aggregate.input, table, slimmed),
    groups: keptGroups.map((g) => aggregate.groups[g] as Expr),
    columns: [
      ...keptGroups.map((g) => aggregate.columns[g] as ColumnDef),
      ...aggregate.columns.slice(groupCount),
    ],
  };
  const toNarrowed = (e: Expr) => remap(e, newSlot);

  // The top-N: the columns shown that were not deferred, then the table's key.
  const shownKept = project.exprs.flatMap((_, i) => (shown.has(i) ? [] : [i]));
  const keySlots = key.map((g) => newSlot.get(g) as number);
  const keyColumn = (g: number) => {
    const def = table.columns[(deferral.origins.get(g) as Origin).column] as ColumnDef;
    return { ...(narrowed.columns[newSlot.get(g) as number] as ColumnDef), name: def.name };
  };
  const inner: ProjectNode = {
    kind: "project",
    input: having
      ? {
          ...having,
          input: narrowed,
          predicate: toNarrowed(having.predicate),
          columns: narrowed.columns,
        }
      : narrowed,
    exprs: [
      ...shownKept.map((i) => toNarrowed(project.exprs[i] as Expr)),
      ...keySlots.map((s) => column(s, narrowed.columns[s] as ColumnDef)),
    ],
    columns: [
      ...shownKept.map((i) => project.columns[i] as ColumnDef),
      ...key.map((g) => keyColumn(g)),
    ],
    estimate: project.estimate,
  };
  const shownAt = new Map(shownKept.map((i, at): [number, number] => [i, at]));
  const top: LimitNode = {
    ...limit,
    input: {
      ...sort,
      input: inner,
      keys: sort.keys.map((k) => ({ ...k, expr: remap(k.expr, shownAt) })),
      columns: inner.columns,
    },
    columns: inner.columns,
  };

  // The table again, for the kept rows' keys: its key and the deferred columns.
  const needed = table.columns.map(() => 0);
  for (const k of key) needed[(deferral.origins.get(k) as Origin).column] = 1;
  for (const c of fetched) needed[c] = 1;
  const reread: ScanNode = {
    kind: "scan",
    table: table.table,
    alias: table.alias,
    columns: table.columns,
    needed,
    pushed: [],
    local: [],
    estimate: table.table.rowCount ?? table.estimate,
  };
  const width = inner.columns.length;
  const fetch: JoinNode = {
    kind: "join",
    type: "left",
    left: top,
    right: reread,
    leftKeys: keySlots.map((_, i) =>
      column(shownKept.length + i, inner.columns[shownKept.length + i] as ColumnDef),
    ),
    rightKeys: key.map((g) => {
      const at = (deferral.origins.get(g) as Origin).column;
      return column(at, table.columns[at] as ColumnDef);
    }),
    build: "left",
    columns: [...inner.columns, ...table.columns],
    estimate: kept,
  };

  // The statement's columns in its order, then its ORDER BY again: the join keeps no order.
  const output: ProjectNode = {
    kind: "project",
    input: fetch,
    exprs: project.exprs.map((_, i) => {
      const group = shown.get(i);
      const def = project.columns[i] as ColumnDef;
      if (group === undefined) return column(shownAt.get(i) as number, def);
      return column(width + (deferred.get(group) as number), def);
    }),
    columns: project.columns,
    estimate: kept,
  };
  return { ...sort, input: output, columns: limit.columns, estimate: kept } satisfies PlanNode;
}

interface Deferral {
  /** The table whose key the groups hold, as its scan. */
  table: ScanNode;
  /** The groups that are the table's primary key, in its key's order. */
  key: number[];
  /** Groups read later: group index → the table's column. */
  deferred: Map<number, number>;
  origins: Map<number, Origin>;
}

/**
 * Per table whose whole primary key is among the aggregate's groups: its other columns among the
 * groups, as they are, that nothing below the aggregate reads.
 */
function deferrals(
  aggregate: AggregateNode,
  readableByKey: (scan: ScanNode, column: number) => boolean,
): Deferral[] {
  const origins = new Map<number, Origin>();
  aggregate.groups.forEach((g, i) => {
    const origin = g.k === "col" ? originOf(aggregate.input, g.i) : undefined;
    if (origin) origins.set(i, origin);
  });
  const used = usedBelow(aggregate.input);
  aggregate.groups.forEach((g) => {
    if (g.k !== "col") for (const s of slotsOf(g)) markOrigin(aggregate.input, s, used);
  });
  for (const a of aggregate.aggs) {
    if (a.arg) for (const s of slotsOf(a.arg)) markOrigin(aggregate.input, s, used);
    if (a.weight) for (const s of slotsOf(a.weight)) markOrigin(aggregate.input, s, used);
  }
  const scans = new Set([...origins.values()].map((o) => o.scan));
  const found: Deferral[] = [];
  for (const scan of scans) {
    const primaryKey = scan.table.primaryKey;
    if (!primaryKey || primaryKey.length === 0 || scan.limit !== undefined) continue;
    const groupOf = (column: number) =>
      [...origins].find(([, o]) => o.scan === scan && o.column === column)?.[0];
    const key = primaryKey.map((name) => groupOf(scan.columns.findIndex((c) => c.name === name)));
    if (key.some((g) => g === undefined)) continue;
    const keyColumns = new Set(key.map((g) => (origins.get(g as number) as Origin).column));
    if (![...keyColumns].every((c) => readableByKey(scan, c))) continue;
    const deferred = new Map<number, number>();
    for (const [g, o] of origins) {
      if (o.scan !== scan || keyColumns.has(o.column)) continue;
      // Every group of a column not read below goes: the column is no longer read there.
      if (used.get(scan)?.has(o.column)) continue;
      deferred.set(g, o.column);
    }
    if (deferred.size > 0) found.push({ table: scan, key: key as number[], deferred, origins });
  }
  return found;
}

/** The plan with one scan on the path of passed-on columns replaced (see originOf). */
function replaceScan(node: PlanNode, old: ScanNode, next: ScanNode): PlanNode {
  if (node === old) return next;
  switch (node.kind) {
    case "project":
    case "filter":
      return { ...node, input: replaceScan(node.input, old, next) };
    case "join":
      return {
        ...node,
        left: replaceScan(node.left, old, next),
        right: replaceScan(node.right, old, next),
      };
    default:
      return node;
  }
}

/** The scanned column a node's slot passes on unchanged, through projections, filters and joins. */
function originOf(node: PlanNode, slot: number): Origin | undefined {
  switch (node.kind) {
    case "scan":
      return { scan: node, column: slot };
    case "project": {
      const e = node.exprs[slot];
      return e?.k === "col" ? originOf(node.input, e.i) : undefined;
    }
    case "filter":
      return originOf(node.input, slot);
    case "join": {
      const width = node.left.columns.length;
      return slot < width ? originOf(node.left, slot) : originOf(node.right, slot - width);
    }
    default:
      return undefined;
  }
}

type Used = Map<ScanNode, Set<number>>;

function markOrigin(node: PlanNode, slot: number, used: Used): void {
  const origin = originOf(node, slot);
  if (!origin) return;
  const columns = used.get(origin.scan) ?? new Set<number>();
  columns.add(origin.column);
  used.set(origin.scan, columns);
}

function markAll(node: PlanNode, exprs: readonly Expr[], used: Used): void {
  for (const e of exprs) for (const s of slotsOf(e)) markOrigin(node, s, used);
}

/**
 * The scanned columns a subtree reads for itself — in predicates, join keys, computed columns,
 * sorts and windows — rather than only passing them on. A deferred column must be none of them.
 */
function usedBelow(node: PlanNode, used: Used = new Map()): Used {
  switch (node.kind) {
    case "scan": {
      const own = used.get(node) ?? new Set<number>();
      for (const e of node.local) for (const s of slotsOf(e)) own.add(s);
      for (const k of node.orderBy ?? []) for (const s of slotsOf(k.expr)) own.add(s);
      used.set(node, own);
      return used;
    }
    case "project":
      markAll(
        node.input,
        node.exprs.filter((e) => e.k !== "col"),
        used,
      );
      return usedBelow(node.input, used);
    case "filter":
      markAll(node.input, [node.predicate], used);
      return usedBelow(node.input, used);
    case "join":
      markAll(node.left, node.leftKeys, used);
      markAll(node.right, node.rightKeys, used);
      if (node.residual) markAll(node, [node.residual], used);
      usedBelow(node.left, used);
      return usedBelow(node.right, used);
    default:
      // No column passes through anything else unchanged (originOf), so no group below it can be
      // deferred: what it reads does not matter here.
      return used;
  }
}

function column(i: number, def: ColumnDef): Expr {
  return { k: "col", i, type: def.type, name: def.name };
}

function remap(e: Expr, slots: ReadonlyMap<number, number>): Expr {
  return mapExpr(e, (x) => (x.k === "col" ? { ...x, i: slots.get(x.i) ?? x.i } : undefined));
}
