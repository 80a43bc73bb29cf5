/**
 * Physical choices on the bound plan: build sides from row estimates, dynamic filters into the
 * probe side's scan, pushdown of limits, top-N, single-table aggregates and aggregates split
 * over a logical table's members, and wide columns read after a top-N (late-columns.ts).
 */
import { visit } from "./bind.ts";
import type { Catalog } from "./catalog.ts";
import { splitAggregateOverJoin } from "./eager-aggregate.ts";
import { fetchColumnsLate } from "./late-columns.ts";
import type { Expr, JoinNode, PlanNode, QueryPlan, ScanNode } from "./plan.ts";
import { forEachNode } from "./plan-walk.ts";
import {
  canPushAggregate,
  canPushGroupingSets,
  canPushGroupKey,
  canPushKeys,
  canPushOrder,
  computesWithFloat,
  semiJoinFilter,
} from "./pushdown.ts";
import { planReductions } from "./reduce.ts";
import { soleSource, toRemote } from "./remote.ts";
import { renderAggregate } from "./scan-sql.ts";
import { splitShardAggregate } from "./shard-aggregate.ts";
import { markSharedReads } from "./shared-reads.ts";
import type { ColumnDef, SourceInfo } from "./types.ts";

export interface OptimizeOptions {
  /**
   * Whether sources may run any part of the plan beyond reading columns. Off, every predicate,
   * join, aggregate, sort and limit runs in the engine: the same answer, found the slow way, for
   * checking that pushdown changes nothing.
   */
  pushdown: boolean;
}

export function optimize(
  plan: QueryPlan,
  catalog: Catalog,
  options: OptimizeOptions = { pushdown: true },
): QueryPlan {
  if (!options.pushdown) return planReductions(keepInEngine(plan));
  const whole = (node: PlanNode) => {
    // A statement over several tables that all live in one source runs there whole, when it can.
    if (hasJoin(node) || hasUnion(node)) {
      const remote = toRemote(node, catalog, "the whole statement");
      if (remote) return remote;
    }
    return rewrite(node, catalog);
  };
  return markSharedReads(
    planReductions({
      ...plan,
      root: plan.subqueries.length > 0 ? rewrite(plan.root, catalog) : whole(plan.root),
      subqueries: plan.subqueries.map((s) => whole(s)),
    }),
  );
}

/** The plan with every scan reading plain columns and the engine doing all the rest. */
function keepInEngine(plan: QueryPlan): QueryPlan {
  for (const node of [plan.root, ...plan.subqueries]) forEachNode(node, inEngine);
  return plan;
}

function inEngine(node: PlanNode): void {
  if (node.kind === "scan") unpush(node);
  else if (node.kind === "join") chooseBuildSide(node);
}

/** Moves a scan's pushed predicates to the engine, fetching the columns they read. */
function unpush(scan: ScanNode): void {
  for (const predicate of scan.pushed) {
    visit(predicate, (e) => {
      if (e.k === "col") scan.needed[e.i] = (scan.needed[e.i] ?? 0) + 1;
    });
  }
  scan.local = [...scan.pushed, ...scan.local];
  scan.pushed = [];
}

function hasJoin(node: PlanNode): boolean {
  if (node.kind === "join") return true;
  if (node.kind === "union" || node.kind === "setop") return node.inputs.some(hasJoin);
  return "input" in node ? hasJoin(node.input) : false;
}

function hasUnion(node: PlanNode): boolean {
  if (node.kind === "union") return true;
  if (node.kind === "join") return hasUnion(node.left) || hasUnion(node.right);
  if (node.kind === "setop") return node.inputs.some(hasUnion);
  return "input" in node ? hasUnion(node.input) : false;
}

function rewrite(node: PlanNode, catalog: Catalog): PlanNode {
  switch (node.kind) {
    case "join": {
      node.left = rewrite(node.left, catalog);
      node.right = rewrite(node.right, catalog);
      // Tables of one source joined together: the source joins them.
      const remote = toRemote(node, catalog, "a join within one source");
      if (remote)
        return {
          ...remote,
          keyFilterable: true,
          ...(joinsWholeTables(node) ? { wholeTables: true } : {}),
        };
      chooseBuild(node, catalog);
      return node;
    }
    case "distinct": {
      node.input = rewrite(node.input, catalog);
      // One table's distinct rows (an EXISTS key set, SELECT DISTINCT): found by its source, so
      // only they travel and nothing here holds the rest.
      const oneTable =
        node.input.kind === "scan" ||
        (node.input.kind === "project" && node.input.input.kind === "scan");
      if (oneTable && !node.on)
        return (
          toRemote(node, catalog, "DISTINCT in its source") ?? distinctOfKeys(node, catalog) ?? node
        );
      return node;
    }
    case "filter":
    case "project":
    case "sort":
    case "window":
      node.input = rewrite(node.input, catalog);
      return node;
    case "aggregate": {
      // GROUP BY over tables of one source: the source joins and aggregates them.
      if (hasJoin(node.input)) {
        const remote = toRemote(node, catalog, "an aggregate within one source");
        if (remote) return remote;
      }
      const eager = aggregateBeforeJoin(node, catalog);
      if (eager) return eager;
      node.input = rewrite(node.input, catalog);
      return pushAggregate(node, catalog) ?? splitShardAggregate(node, catalog) ?? node;
    }
    case "limit": {
      const late = fetchColumnsLate(node, (scan, column) =>
        canPushKeys((scan.columns[column] as ColumnDef).type, catalog.source(scan.table.source)),
      );
      if (late) return rewrite(late, catalog);
      node.input = rewrite(node.input, catalog);
      pushLimit(node, catalog);
      return node;
    }
    case "union":
      node.inputs = node.inputs.map((i) => rewrite(i, catalog));
      return node;
    case "setop":
      node.inputs = [rewrite(node.inputs[0], catalog), rewrite(node.inputs[1], catalog)];
      return node;
    default:
      return node;
  }
}

/**
 * DISTINCT over one table whose only predicate the source cannot take is `column IN (subquery)`
 * (a reduced EXISTS's key set, TPC-H Q22's customers with orders): the source still finds the
 * distinct rows, narrowed to the subquery's keys when it runs, and the IN is tested here on what
 * it sends — one row per key instead of every matching row.
 */
function distinctOfKeys(
  node: Extract<PlanNode, { kind: "distinct" }>,
  catalog: Catalog,
): PlanNode | undefined {
  const project = node.input.kind === "project" ? node.input : undefined;
  const scan = scanOf(project ? project.input : node.input);
  if (scan?.local.length !== 1) return undefined;
  const semi = semiJoinFilter(scan, catalog.source(scan.table.source));
  const test = scan.local[0] as Expr;
  if (!semi || test.k !== "inSub") return undefined;
  // Where the key column is among what DISTINCT returns.
  const column = project
    ? project.exprs.findIndex((e) => e.k === "col" && e.i === semi.column)
    : semi.column;
  if (column < 0) return undefined;
  const unfiltered: ScanNode = { ...scan, local: [] };
  const input = project ? { ...project, input: unfiltered } : unfiltered;
  const remote = toRemote({ ...node, input }, catalog, "DISTINCT in its source");
  if (!remote) return undefined;
  const key = node.columns[column] as ColumnDef;
  // A DISTINCT of the key alone is the keys that occur in its input: PostgreSQL is asked that.
  const rows =
    node.columns.length === 1 && catalog.source(remote.source).dialect.kind === "postgres"
      ? toRemote(input, catalog, "rows")
      : undefined;
  const keysOf = { sub: semi.sub, column, ...(rows ? { presentIn: rows.statement } : {}) };
  return {
    kind: "filter",
    input: { ...remote, keysOf },
    predicate: { ...test, keys: [{ k: "col", i: column, type: key.type, name: key.name }] },
    columns: node.columns,
    estimate: node.estimate,
  };
}

function scanOf(node: PlanNode): ScanNode | undefined {
  return node.kind === "scan" ? node : undefined;
}

/**
 * The scans a probe side reads: one scan, or a logical table's members (a union of scans over
 * the same columns), each of which can take the build side's keys.
 */
function probeScans(node: PlanNode): ScanNode[] | undefined {
  if (node.kind === "scan") return [node];
  if (node.kind === "union" && node.shards && node.inputs.length > 0) {
    const scans = node.inputs.filter((i): i is ScanNode => i.kind === "scan");
    return scans.length === node.inputs.length ? scans : undefined;
  }
  return undefined;
}

/**
 * The smaller side builds; the larger one — a plain scan, a logical table's members, or a join
 * its source runs — is filtered by the build side's keys.
 */
function chooseBuild(join: JoinNode, catalog: Catalog): void {
  if (!chooseBuildSide(join)) return;
  const probe = join.build === "left" ? join.right : join.left;
  const probePreserved =
    join.type === "full" ||
    (join.type === "left" && join.build === "right") ||
    (join.type === "right" && join.build === "left");
  if (probePreserved) return;
  let sources: SourceInfo[];
  if (probe.kind === "remote") {
    // The statement waits for the build side and runs whole once per key list: worth it only
    // where the keys leave a small part of its rows (Q10's customers by revenue: 9,900 keys for
    // 14,400 rows were better read at once, both sides together).
    const build = join.build === "left" ? join.left : join.right;
    if (!probe.keyFilterable || build.estimate > probe.estimate / 2) return;
    sources = [catalog.source(probe.source)];
  } else {
    const scans = probeScans(probe);
    if (!scans || scans.some((s) => s.limit !== undefined)) return;
    sources = scans.map((s) => catalog.source(s.table.source));
  }
  // A logical table's members still take keys: each is asked only for those it may hold.
  if (probe.kind !== "union" && readsWholeTable(join.build === "left" ? join.left : join.right))
    return;
  const keys = join.build === "left" ? join.rightKeys : join.leftKeys;
  const keyIndex = keys.findIndex(
    (k) =>
      k.k === "col" &&
      sources.every((source) => canPushKeys(k.type, source)) &&
      (probe.kind !== "remote" || !probe.positions || probe.positions.includes(k.i)),
  );
  if (keyIndex < 0) return;
  const key = keys[keyIndex] as Extract<Expr, { k: "col" }>;
  join.dynamicFilter = { keyIndex, column: key.i };
}

/**
 * A build side that is a whole table: its keys filter out of a probe scan only rows without a
 * match in that table — none where a foreign key holds — and their IN lists cost more than they
 * save (TPC-H Q14 sent every part key to lineitem in four statements: 324 ms; without, 149 ms).
 */
function readsWholeTable(node: PlanNode): boolean {
  if (node.kind === "remote") return node.wholeTables === true;
  return (
    node.kind === "scan" &&
    node.pushed.length === 0 &&
    node.local.length === 0 &&
    node.limit === undefined
  );
}

/**
 * Inner joins on keys alone of tables read whole (TPC-H Q10's customer and nation): as a build
 * side it is a whole table, its keys no narrower than those of its largest table.
 */
function joinsWholeTables(node: PlanNode): boolean {
  if (node.kind === "scan") return readsWholeTable(node);
  if (node.kind === "project") return joinsWholeTables(node.input);
  if (node.kind !== "join") return false;
  return (
    node.type === "inner" &&
    !node.residual &&
    joinsWholeTables(node.left) &&
    joinsWholeTables(node.right)
  );
}

/** Builds the side estimated smaller; false for a join without keys, which builds the right. */
function chooseBuildSide(join: JoinNode): boolean {
  if (join.type === "cross" || join.leftKeys.length === 0) {
    join.build = "right";
    return false;
  }
  join.build = join.left.estimate < join.right.estimate ? "left" : "right";
  return true;
}

/** LIMIT over a plain scan (possibly projected, possibly sorted) runs in the source. */
function pushLimit(node: Extract<PlanNode, { kind: "limit" }>, catalog: Catalog): void {
  if (node.limit === undefined) return;
  let input = node.input;
  let sort: Extract<PlanNode, { kind: "sort" }> | undefined;
  if (input.kind === "sort") {
    sort = input;
    input = input.input;
  }
  if (input.kind !== "project") return;
  const scan = scanOf(input.input);
  if (!scan || scan.local.length > 0) return;
  const source = catalog.source(scan.table.source);
  if (!source.capabilities.limit) return;
  if (sort) {
    const project = input;
    const keys = sort.keys.map((k) => {
      const e = k.expr.k === "col" ? project.exprs[k.expr.i] : undefined;
      return e?.k === "col" ? { ...k, expr: e } : undefined;
    });
    if (keys.some((k) => k === undefined)) return;
    const resolved = keys as NonNullable<(typeof keys)[number]>[];
    if (
      !canPushOrder(
        resolved.map((k) => k.expr.type),
        source,
      )
    )
      return;
    scan.orderBy = resolved;
  }
  scan.limit = node.limit + node.offset;
  scan.estimate = Math.min(scan.estimate, scan.limit);
}

/**
 * GROUP BY over a join whose aggregates read one side: that side aggregated first, by its join
 * keys, in its source (see eager-aggregate.ts) — where that leaves at most half its rows. The
 * partial rows are a join input like a table's, narrowed to the other side's keys where those
 * are few (chooseBuild).
 */
function aggregateBeforeJoin(
  node: Extract<PlanNode, { kind: "aggregate" }>,
  catalog: Catalog,
): PlanNode | undefined {
  const split = splitAggregateOverJoin(node);
  if (!split || split.partial.estimate > split.partial.input.estimate / 2) return undefined;
  if (soleSource(split.partial.input) === undefined) return undefined;
  // Where the other side's keys would narrow the aggregated side (its probe), they are kept:
  // TPC-H Q18's ten orders read ten orders' lineitems, not all of them aggregated.
  if (!joinsWholeTables(split.other) && split.partial.input.estimate >= split.other.estimate)
    return undefined;
  const partial = toRemote(split.partial, catalog, "partial aggregate before a join");
  if (!partial) return undefined;
  const final = split.finish({ ...partial, keyFilterable: true }, rewrite(split.other, catalog));
  chooseBuild(final.input, catalog);
  return final;
}

/** GROUP BY over one table with every predicate pushed: the source aggregates. */
function pushAggregate(
  node: Extract<PlanNode, { kind: "aggregate" }>,
  catalog: Catalog,
): PlanNode | undefined {
  const scan = scanOf(node.input);
  if (!scan || scan.local.length > 0) return undefined;
  // Nothing to compute over no groups (`SELECT 1 FROM t HAVING true`) is one row, which the
  // source's `SELECT 1 FROM t` is not.
  if (node.groups.length === 0 && node.aggs.length === 0) return undefined;
  const source = catalog.source(scan.table.source);
  // Keys and arguments may be expressions the source computes exactly as the engine does
  // (`sum(l_extendedprice * (1 - l_discount))`, `GROUP BY EXTRACT(year FROM d)`).
  if (!node.groups.every((g) => canPushGroupKey(g, source))) return undefined;
  if (!node.aggs.every((a) => canPushAggregate(a, source))) return undefined;
  // A float alone groups, and has its MIN, MAX and counts, alike as stored (`computesWithFloat`).
  const computes = (e: Expr | undefined) =>
    e !== undefined && e.k !== "col" && computesWithFloat(e, scan.table.columns, source);
  if (node.groups.some(computes)) return undefined;
  if (node.aggs.some((a) => computes(a.arg))) return undefined;
  if (node.sets && !canPushGroupingSets(source)) return undefined;
  const statement = renderAggregate(scan, node.groups, node.aggs, source, node.sets);
  if (!statement) return undefined;
  return {
    kind: "remote",
    source: source.name,
    statement,
    columns: node.columns,
    describes: `Aggregate over ${scan.table.source}.${scan.table.schema}.${scan.table.name}`,
    estimate: node.estimate,
  };
}
