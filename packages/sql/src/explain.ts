/** EXPLAIN: the plan as text, and the exact statement (with parameters) each source receives. */
import type { ScanBounds } from "@entente/connectors";
import { toJson } from "@entente/protocol";
import type { Catalog } from "./catalog.ts";
import type { OperatorActuals } from "./exec.ts";
import type { MemberConstraint } from "./logical.ts";
import type { Deferred, Expr, LogicalRead, PlanNode, QueryPlan } from "./plan.ts";
import { semiJoinFilter } from "./pushdown.ts";
import { renderScan } from "./scan-sql.ts";
import type { Value } from "./types.ts";

export interface ExplainedSource {
  source: string;
  sql: string;
  params: Value[];
  /** Set when the statement also receives a join's keys at run time. */
  dynamicFilter?: string;
  /** What its predicates allow each column to hold (see `SourceStatement.scan`). */
  scan?: ScanBounds;
}

export interface Explanation {
  plan: string;
  sources: ExplainedSource[];
}

/**
 * The plan as text. With `actuals` (EXPLAIN ANALYZE), each operator's line also says what it
 * handed on: rows, their bytes, and the time spent getting them (its inputs' included).
 */
export function explainPlan(
  plan: QueryPlan,
  catalog: Catalog,
  actuals?: ReadonlyMap<PlanNode, OperatorActuals>,
): Explanation {
  const lines: string[] = [];
  const sources: ExplainedSource[] = [];
  const dynamic = new Map<PlanNode, string>();
  const shardLines = (shards: LogicalRead, pad: string) => {
    for (const r of shards.read) lines.push(`${pad}reads ${r.label}: ${r.why}`);
    for (const p of shards.pruned) lines.push(`${pad}pruned ${p.label}: ${p.why}`);
  };
  const walk = (node: PlanNode, depth: number, names: string[]): void => {
    const at = lines.length;
    describe(node, depth, names);
    const actual = actuals?.get(node);
    if (actuals && lines[at] !== undefined)
      lines[at] += actual
        ? ` (actual rows=${actual.rows}, bytes=${actual.bytes}, time=${actual.ms.toFixed(1)} ms)`
        : " (never run)";
  };
  const describe = (node: PlanNode, depth: number, names: string[]): void => {
    const pad = "  ".repeat(depth);
    const show = (e: Expr) => exprText(e, names);
    switch (node.kind) {
      case "scan": {
        const source = catalog.source(node.table.source);
        const st = renderScan(node, source);
        const semi = semiJoinFilter(node, source);
        const listed = semi && semiJoinText(node.columns[semi.column]?.name, semi.sub, plan);
        const joined = dynamic.get(node);
        // The scan is handed whichever keys are fewer (exec.ts runScan).
        const df = joined && listed ? `${joined}; or, when fewer, ${listed}` : (joined ?? listed);
        lines.push(
          `${pad}Scan ${node.table.source}.${node.table.schema}.${node.table.name} AS ${node.alias} (rows≈${node.estimate})`,
        );
        lines.push(
          `${pad}  sql: ${st.sql}${df ? ` ${st.sql.includes(" WHERE ") ? "AND" : "WHERE"} ${df}` : ""}`,
        );
        if (st.params.length > 0) lines.push(`${pad}  params: ${toJson(st.params)}`);
        const cols = node.columns.map((c) => c.name);
        if (node.local.length > 0)
          lines.push(
            `${pad}  filter in engine: ${node.local.map((e) => exprText(e, cols)).join(" AND ")}`,
          );
        sources.push({
          source: source.name,
          sql: st.sql,
          params: st.params,
          ...(df ? { dynamicFilter: df } : {}),
          ...(st.scan ? { scan: st.scan } : {}),
        });
        return;
      }
      case "remote": {
        lines.push(`${pad}Remote ${node.source}: ${node.describes} (rows≈${node.estimate})`);
        for (const l of node.logical ?? []) {
          if (l.note) lines.push(`${pad}  ${l.note}`);
          shardLines(l, `${pad}  `);
        }
        const keysOf = node.keysOf;
        const df =
          dynamic.get(node) ??
          (keysOf?.presentIn &&
            `the keys of subquery $${keysOf.sub} it holds in ${node.columns[keysOf.column]?.name ?? "?"}, asked as one array (EXISTS over unnest); not asked when none`) ??
          (keysOf &&
            `${node.columns[keysOf.column]?.name ?? "?"} IN (keys of subquery $${keysOf.sub}, chunked) or BETWEEN their min and max when many; not asked when none`);
        lines.push(`${pad}  sql: ${node.statement.sql}`);
        if (df) lines.push(`${pad}  narrowed to: ${df}`);
        if (node.shared) lines.push(`${pad}  read once for every use of the same statement`);
        if (node.statement.params.length > 0)
          lines.push(`${pad}  params: ${toJson(node.statement.params)}`);
        sources.push({
          source: node.source,
          sql: node.statement.sql,
          params: node.statement.params,
          ...(df ? { dynamicFilter: df } : {}),
          ...(node.statement.scan ? { scan: node.statement.scan } : {}),
        });
        return;
      }
      case "join": {
        const l = node.left.columns.map((c) => c.name);
        const r = node.right.columns.map((c) => c.name);
        const keys = node.leftKeys.map(
          (k, i) => `${exprText(k, l)} = ${exprText(node.rightKeys[i] as Expr, r)}`,
        );
        const residual = node.residual ? ` filter ${exprText(node.residual, [...l, ...r])}` : "";
        lines.push(
          `${pad}HashJoin ${node.type}${keys.length > 0 ? ` on ${keys.join(" AND ")}` : ""}${residual} (build ${node.build}, rows≈${node.estimate})`,
        );
        if (node.dynamicFilter) {
          const probe = node.build === "left" ? node.right : node.left;
          const col = probe.columns[node.dynamicFilter.column]?.name ?? "?";
          // A join PostgreSQL runs takes more than one list's keys as one array (keyFilters).
          const oneArray =
            probe.kind === "remote" && catalog.source(probe.source).dialect.kind === "postgres";
          const text = oneArray
            ? `${col} IN (keys of the build side), = ANY(one array of them) when more than one list, or BETWEEN their min and max when many`
            : `${col} IN (keys of the build side, chunked) or BETWEEN their min and max when many`;
          dynamic.set(probe, text);
          if (probe.kind === "union") {
            probe.inputs.forEach((input, i) => {
              const member = probe.shards?.read[i];
              dynamic.set(input, member ? memberKeysText(col, member.constraint) : text);
            });
          }
          lines.push(`${pad}  dynamic filter: ${text}`);
        }
        walk(node.left, depth + 1, l);
        walk(node.right, depth + 1, r);
        return;
      }
      case "filter":
        lines.push(`${pad}Filter ${show(node.predicate)}`);
        break;
      case "project":
        lines.push(
          `${pad}Project ${node.exprs
            .map(
              (e, i) =>
                `${exprText(
                  e,
                  node.input.columns.map((c) => c.name),
                )} AS ${node.columns[i]?.name}`,
            )
            .join(", ")}`,
        );
        break;
      case "aggregate": {
        const cols = node.input.columns.map((c) => c.name);
        const aggs = node.aggs.map(
          (a) => `${a.fn}(${a.distinct ? "DISTINCT " : ""}${a.arg ? exprText(a.arg, cols) : "*"})`,
        );
        lines.push(
          `${pad}Aggregate${node.groups.length > 0 ? ` group by ${node.groups.map((g) => exprText(g, cols)).join(", ")}` : ""}: ${aggs.join(", ")}`,
        );
        walk(node.input, depth + 1, cols);
        return;
      }
      case "sort":
        lines.push(
          `${pad}Sort ${node.keys.map((k) => `${show(k.expr)} ${k.desc ? "DESC" : "ASC"} NULLS ${k.nullsFirst ? "FIRST" : "LAST"}`).join(", ")}`,
        );
        break;
      case "limit":
        lines.push(
          `${pad}Limit ${node.limit ?? "ALL"}${node.offset ? ` offset ${node.offset}` : ""}`,
        );
        break;
      case "distinct":
        lines.push(
          `${pad}Distinct${node.on ? ` on ${node.on.map((i) => names[i] ?? `#${i}`).join(", ")}` : ""}`,
        );
        break;
      case "window":
        for (const w of node.windows)
          lines.push(
            `${pad}Window ${w.fn}(${w.args.map(show).join(", ")})${w.partition.length > 0 ? ` partition by ${w.partition.map(show).join(", ")}` : ""}${w.order.length > 0 ? ` order by ${w.order.map((k) => `${show(k.expr)} ${k.desc ? "DESC" : "ASC"}`).join(", ")}` : ""}`,
          );
        break;
      case "union":
        lines.push(`${pad}UnionAll${node.note ? ` (${node.note})` : ""}`);
        if (node.shards) shardLines(node.shards, `${pad}  `);
        for (const i of node.inputs)
          walk(
            i,
            depth + 1,
            i.columns.map((c) => c.name),
          );
        return;
      case "values":
        lines.push(`${pad}Values (${node.rows.length} row)`);
        return;
      case "setop":
        lines.push(
          `${pad}${node.op === "intersect" ? "Intersect" : "Except"}${node.all ? " All" : ""}`,
        );
        for (const i of node.inputs)
          walk(
            i,
            depth + 1,
            i.columns.map((c) => c.name),
          );
        return;
    }
    const input = (node as { input: PlanNode }).input;
    walk(
      input,
      depth + 1,
      input.columns.map((c) => c.name),
    );
  };
  plan.subqueries.forEach((s, i) => {
    const deferred = plan.deferred?.get(i);
    if (deferred?.role === "key list" || deferred?.role === "unused") return;
    lines.push(`Subquery $${i} (${subqueryTiming(deferred)})`);
    walk(
      s,
      1,
      s.columns.map((c) => c.name),
    );
  });
  walk(
    plan.root,
    0,
    plan.root.columns.map((c) => c.name),
  );
  return { plan: lines.join("\n"), sources };
}

/** The keys an IN subquery's (or a deferred subquery's key list's) scan receives. */
function semiJoinText(column: string | undefined, sub: number, plan: QueryPlan): string {
  const list = plan.deferred?.get(sub);
  const keys =
    list?.role === "key list"
      ? `the keys of the rows that wait for subquery $${list.of}`
      : `keys of subquery $${sub}`;
  return `${column} IN (${keys}, chunked) or BETWEEN their min and max when many; not asked when none`;
}

/** When a subquery runs, as EXPLAIN says it. */
function subqueryTiming(deferred: Deferred | undefined): string {
  switch (deferred?.role) {
    case undefined:
      return "runs first";
    case "at filter":
      return `runs when the filter that reads it has read its rows: as $${deferred.reduction.plan} for their keys when they are few, else whole`;
    case "reduction":
      return `$${deferred.of} for the keys of the rows that wait for it`;
    default:
      return "never runs";
  }
}

/** The dynamic filter one member of a logical table receives: the keys it may hold. */
function memberKeysText(column: string, constraint: MemberConstraint): string {
  const held =
    constraint.column !== column
      ? "keys of the build side"
      : constraint.kind === "region"
        ? `keys of the build side owned by region ${constraint.regions.join(", ")}`
        : "keys of the build side this member may hold";
  return `${column} IN (${held}, chunked) or BETWEEN their min and max when many; not asked when none`;
}

export function exprText(e: Expr, names: string[]): string {
  const t = (x: Expr) => exprText(x, names);
  switch (e.k) {
    case "col":
      return names[e.i] ?? e.name;
    case "lit":
      return typeof e.v === "string"
        ? `'${e.v.replaceAll("'", "''")}'`
        : e.v === null
          ? "NULL"
          : String(e.v);
    case "cmp":
    case "arith": {
      // Nested arithmetic keeps its parentheses: a * (1 - b) is not a * 1 - b.
      const side = (x: Expr) => (x.k === "arith" ? `(${t(x)})` : t(x));
      return `${side(e.l)} ${e.op} ${side(e.r)}`;
    }
    case "concat":
      return `${t(e.l)} || ${t(e.r)}`;
    case "and":
    case "or":
      return `(${e.args.map(t).join(` ${e.k.toUpperCase()} `)})`;
    case "not":
      return `NOT ${t(e.e)}`;
    case "neg":
      return `-${t(e.e)}`;
    case "isnull":
      return `${t(e.e)} IS ${e.not ? "NOT " : ""}NULL`;
    case "in":
      return `${t(e.e)} ${e.not ? "NOT " : ""}IN (${e.list.map(t).join(", ")})`;
    case "between":
      return `${t(e.e)} ${e.not ? "NOT " : ""}BETWEEN ${t(e.lo)} AND ${t(e.hi)}`;
    case "like":
      return `${t(e.e)} ${e.not ? "NOT " : ""}${e.ci ? "ILIKE" : "LIKE"} ${t(e.pattern)}`;
    case "case":
      return "CASE …";
    case "fn":
      return `${e.name}(${e.args.map(t).join(", ")})`;
    case "cast":
      return `CAST(${t(e.e)} AS ${e.type})`;
    case "inSub":
      return `(${e.keys.map(t).join(", ")}) ${e.not ? "NOT " : ""}IN $${e.sub}`;
    case "exists":
      return `${e.not ? "NOT " : ""}EXISTS $${e.sub}${e.keys.length > 0 ? ` on (${e.keys.map(t).join(", ")})` : ""}`;
    case "scalarSub":
      return `$${e.sub}${e.keys ? ` on (${e.keys.map(t).join(", ")})` : ""}`;
    case "agg":
      return `${e.fn}(${e.arg ? t(e.arg) : "*"})`;
    case "grouping":
      return `grouping(${e.args.map(t).join(", ")})`;
    case "win":
      return `window${e.w}`;
  }
}
