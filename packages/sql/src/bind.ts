/**
 * The binder: node-sql-parser's AST to a logical plan. Names are resolved against the catalog
 * (unknown names get the nearest known one), types are checked, WHERE and ON conditions are
 * split into conjuncts and placed as low as they may go: into a table's scan, as equality keys
 * of a join, or above the joins.
 */

import { EntenteError } from "@entente/protocol";
import type { Catalog } from "./catalog.ts";
import {
  addToDate,
  addToTimestamp,
  dateField,
  daysBetween,
  type Interval,
  negateInterval,
  parseInterval,
  truncUnit,
} from "./dates.ts";
import { Decimal, toDecimal } from "./decimal.ts";
import { factorDisjunctions } from "./disjunctions.ts";
import { badRequest, didYouMean, notFound, unsupported } from "./errors.ts";
import { estimateGroups, estimateJoin, estimateScan } from "./estimate.ts";
import { chooseJoinOrder, type JoinCondition, type JoinShape } from "./join-order.ts";
import { enforcedPredicate, judgeMember, type LogicalTable, narrowForMember } from "./logical.ts";
import type { Ast } from "./parse.ts";
import { EMPTY_GROUPING_SET, GROUPING_SETS_CALL } from "./parse-bridge.ts";
import type {
  AggCall,
  AggFn,
  CompareOp,
  Expr,
  FrameBound,
  FrameUnit,
  JoinNode,
  JoinType,
  PlanNode,
  QueryPlan,
  Reduction,
  ScanNode,
  ShardPruned,
  ShardRead,
  SortKey,
  WindowCall,
} from "./plan.ts";
import { exprChildren } from "./plan-walk.ts";
import { canPush, computesWithFloat } from "./pushdown.ts";
import type { CatalogTable, ColumnDef, SqlType, Value } from "./types.ts";
import {
  castToNumeric,
  castValue,
  isIntegerType,
  isNumericType,
  type NumericTypmod,
  toDate,
} from "./values.ts";

interface ScopeColumn {
  qualifier: string;
  name: string;
  type: SqlType;
  slot: number;
  rel: number;
  mark: () => void;
}

interface Scope {
  columns: ScopeColumn[];
  /** The enclosing query, when this is a subquery's scope. */
  outer?: OuterScope;
}

/**
 * A subquery's link to the query around it. Subqueries run once, before the main plan, so a name
 * that only the enclosing query resolves (a correlated reference) cannot be run and is refused,
 * naming `construct`; only EXISTS lifts its `inner = outer` equalities out first.
 */
interface OuterScope {
  scope: Scope;
  /** The subquery as the refusal names it: "correlated subquery in the SELECT list". */
  construct: string;
  /** Whose column a reference reaches: "the outer query". */
  owner: string;
}

interface Cte {
  ast: Ast;
  /** The query around the WITH: the body may refer to it as a subquery there would. */
  outer: OuterScope | undefined;
  /** `WITH name (a, b) AS …`: names for its first columns. */
  columns?: string[];
}

interface Env {
  catalog: Catalog;
  params: unknown[];
  ctes: Map<string, Cte>;
  /** The views being bound around this point, to refuse one that reaches itself. */
  views?: ReadonlySet<string>;
  subqueries: PlanNode[];
}

interface Rel {
  node: PlanNode;
  qualifier: string;
  columns: ColumnDef[];
  offset: number;
  joinType?: JoinType;
  on?: Ast;
  /** A sharded or tiered table: one scan per member under a UNION ALL. */
  logical?: { table: LogicalTable; scans: ScanNode[] };
  using?: string[];
}

/** Binds a parsed SELECT into a plan. */
export function bindQuery(ast: Ast, catalog: Catalog, params: unknown[] = []): QueryPlan {
  const env: Env = { catalog, params, ctes: new Map(), subqueries: [] };
  const root = bindSetExpression(ast, env, undefined);
  return { root, subqueries: env.subqueries, columns: root.columns };
}

/**
 * Binds one scalar expression over a single table's columns (column slot `i` is `columns[i]`):
 * a write's SET values, WHERE and VALUES. Subqueries and aggregates are refused, naming `clause`.
 */
export function bindScalar(
  e: Ast,
  table: { qualifier: string; columns: readonly ColumnDef[] },
  catalog: Catalog,
  params: unknown[],
  clause: string,
): Expr {
  const env: Env = { catalog, params, ctes: new Map(), subqueries: [] };
  const scope: Scope = {
    columns: table.columns.map((c, i) => ({
      qualifier: table.qualifier,
      name: c.name,
      type: c.type,
      slot: i,
      rel: 0,
      mark: () => {},
    })),
  };
  const expr = bindExpr(e, scope, env, { clause });
  if (env.subqueries.length > 0) {
    throw unsupported(`subqueries in ${clause} are not supported`);
  }
  return expr;
}

/** Whether values of the two types can be compared or assigned to each other. */
export function typesMatch(a: SqlType, b: SqlType): boolean {
  return typesCompatible(a, b);
}

/** The table a column reference names (`t` of `t.c` and `t.*`), if any. */
function qualifierOf(ref: Ast): string | undefined {
  return ref.table == null ? undefined : nameOf(ref.table);
}

/** A name in the AST: a plain string, `{ value }`, or `{ expr: { value } }`. */
export function nameOf(x: Ast): string {
  if (typeof x === "string") return x;
  if (x && typeof x === "object" && "value" in x) return String(x.value);
  if (x?.expr) return nameOf(x.expr);
  return String(x);
}

/**
 * A SELECT possibly followed by set operations (UNION [ALL], INTERSECT, EXCEPT); ORDER BY/LIMIT
 * of the last member apply to the whole. INTERSECT binds tighter than UNION and EXCEPT, which
 * apply left to right, as in PostgreSQL.
 */
function bindSetExpression(ast: Ast, env: Env, outer: OuterScope | undefined): PlanNode {
  if (!ast._next) return bindSelect(ast, env, outer);
  const members: Ast[] = [];
  const ops: SetOperator[] = [];
  let cur: Ast = ast;
  while (cur) {
    members.push(cur);
    if (cur._next) ops.push(setOperatorOf(cur.set_op));
    cur = cur._next;
  }
  const last = members[members.length - 1];
  const tailOrder = last.orderby;
  const inputs = members.map((m) =>
    bindSelect({ ...m, orderby: null, limit: null, _limit: null, _next: null }, env, outer),
  );
  // INTERSECT first, then UNION and EXCEPT from left to right.
  const terms: PlanNode[] = [inputs[0] as PlanNode];
  const between: SetOperator[] = [];
  ops.forEach((op, i) => {
    const next = inputs[i + 1] as PlanNode;
    if (op.name === "intersect") terms.push(combine(op, terms.pop() as PlanNode, next, i + 2));
    else {
      terms.push(next);
      between.push(op);
    }
  });
  let node = terms[0] as PlanNode;
  between.forEach((op, i) => {
    node = combine(op, node, terms[i + 1] as PlanNode, i + 2);
  });
  const columns = node.columns;
  const outScope: Scope = {
    columns: columns.map((c, i) => ({
      qualifier: "",
      name: c.name,
      type: c.type,
      slot: i,
      rel: 0,
      mark: () => {},
    })),
    ...(outer ? { outer } : {}),
  };
  if (tailOrder) {
    const keys: SortKey[] = tailOrder.map((o: Ast) => {
      const expr = orderTarget(o.expr, columns, () =>
        bindExpr(o.expr, outScope, env, { clause: "ORDER BY" }),
      );
      return sortKey(expr, o);
    });
    node = { kind: "sort", input: node, keys, columns, estimate: node.estimate };
  }
  return applyLimit(node, last, env);
}

interface SetOperator {
  name: "union" | "intersect" | "except";
  all: boolean;
}

function setOperatorOf(text: unknown): SetOperator {
  const words = String(text ?? "")
    .toLowerCase()
    .split(/\s+/);
  const name = words[0];
  if (name !== "union" && name !== "intersect" && name !== "except")
    throw unsupported(`set operation ${String(text).toUpperCase()} is not supported`);
  return { name, all: words[1] === "all" };
}

/** UNION ALL members gathered here, so a chain of them is one union of many inputs. */
const unionChains = new WeakSet<PlanNode>();

/** Two members of a set operation as one node; `position` is the right member's, for errors. */
function combine(op: SetOperator, left: PlanNode, right: PlanNode, position: number): PlanNode {
  const label = `${op.name.toUpperCase()}${op.all ? " ALL" : ""}`;
  if (right.columns.length !== left.columns.length) {
    throw badRequest(
      `each ${label} query must have the same number of columns: the first has ${left.columns.length}, query ${position} has ${right.columns.length}`,
    );
  }
  const columns = left.columns.map((c, j) => {
    const r = right.columns[j] as ColumnDef;
    if (!typesCompatible(c.type, r.type))
      throw badRequest(
        `${label} types ${c.type} and ${r.type} cannot be matched (column ${j + 1})`,
      );
    return { name: c.name, type: unify(c.type, r.type) };
  });
  const estimate = left.estimate + right.estimate;
  if (op.name === "union") {
    const members =
      unionChains.has(left) && left.kind === "union" ? [...left.inputs, right] : [left, right];
    const inputs = members.map((m) => asDoubleColumns(m, columns));
    const union: PlanNode = { kind: "union", inputs, columns, estimate };
    unionChains.add(union);
    return op.all ? union : { kind: "distinct", input: union, columns, estimate };
  }
  const inputs: [PlanNode, PlanNode] = [
    asDoubleColumns(left, columns),
    asDoubleColumns(right, columns),
  ];
  return { kind: "setop", op: op.name, all: op.all, inputs, columns, estimate: left.estimate };
}

/**
 * A set operation's member with its decimal columns cast where the operation's column is a
 * double, as PostgreSQL casts each member to the column's type: the members then compare,
 * match and answer as doubles.
 */
function asDoubleColumns(member: PlanNode, columns: ColumnDef[]): PlanNode {
  const mixed = member.columns.map((c, j) => c.type === "decimal" && columns[j]?.type === "double");
  if (!mixed.includes(true)) return member;
  const exprs: Expr[] = member.columns.map((c, i) => {
    const col: Expr = { k: "col", i, type: c.type, name: c.name };
    return mixed[i] ? { k: "cast", e: col, type: "double" } : col;
  });
  const cast = member.columns.map((c, i) => (mixed[i] ? { ...c, type: "double" as const } : c));
  return { kind: "project", input: member, exprs, columns: cast, estimate: member.estimate };
}

/** A WITH list's CTEs, by name; each is bound where it is used (WITH RECURSIVE is refused). */
function registerCtes(withList: Ast, env: Env, outer: OuterScope | undefined): void {
  for (const cte of withList ?? []) {
    const name = nameOf(cte.name);
    if (cte.recursive) throw unsupported("recursive CTEs (WITH RECURSIVE) are not supported");
    const columns: string[] | undefined = cte.columns?.length
      ? cte.columns.map((c: Ast) => nameOf(c.column ?? c))
      : undefined;
    env.ctes.set(name.toLowerCase(), {
      ast: cte.stmt?.ast ?? cte.stmt,
      outer,
      ...(columns ? { columns } : {}),
    });
  }
}

function sortKey(expr: Expr, o: Ast): SortKey {
  const desc = String(o.type ?? "ASC").toUpperCase() === "DESC";
  const nulls = o.nulls ? String(o.nulls).toUpperCase() : undefined;
  return { expr, desc, nullsFirst: nulls ? nulls.includes("FIRST") : desc };
}

function orderTarget(e: Ast, columns: ColumnDef[], otherwise: () => Expr): Expr {
  if (e?.type === "number") {
    const n = Number(e.value);
    const c = columns[n - 1];
    if (!Number.isInteger(n) || !c)
      throw badRequest(`ORDER BY position ${e.value} is not in select list`);
    return { k: "col", i: n - 1, type: c.type, name: c.name };
  }
  if (e?.type === "column_ref" && !e.table) {
    const name = nameOf(e.column);
    const i = columns.findIndex((c) => c.name === name);
    const j = i >= 0 ? i : columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
    if (j >= 0) return { k: "col", i: j, type: (columns[j] as ColumnDef).type, name };
  }
  return otherwise();
}

function applyLimit(node: PlanNode, select: Ast, env: Env): PlanNode {
  const { limit, offset } = limitOf(select, env);
  if (limit === undefined && offset === 0) return node;
  const estimate = Math.min(node.estimate, limit ?? node.estimate);
  return { kind: "limit", input: node, limit, offset, columns: node.columns, estimate };
}

/** A SELECT's LIMIT and OFFSET as numbers; no LIMIT (or LIMIT ALL/NULL) is undefined. */
function limitOf(select: Ast, env: Env): { limit: number | undefined; offset: number } {
  const num = (v: Ast, what: string): number | undefined => {
    const all = (v?.type === "origin" || v?.type === "default") && /^all$/i.test(String(v.value));
    if (v == null || v.type === "null" || all) return undefined;
    const x = Number(v.type === "var" ? paramValue(v, env) : v.value);
    if (!Number.isInteger(x) || x < 0) throw badRequest(`${what} must be a non-negative integer`);
    return x;
  };
  const values: Ast[] = select.limit?.value ?? [];
  const sep = String(select.limit?.seperator ?? "");
  // `OFFSET n LIMIT m` reads as an OFFSET clause with the LIMIT apart, in `_limit`.
  const trailing = select._limit?.value?.[0];
  if (sep === "offset" && values.length === 1) {
    return { limit: num(trailing, "LIMIT"), offset: num(values[0], "OFFSET") ?? 0 };
  }
  if (sep === "offset") {
    return { limit: num(values[0], "LIMIT"), offset: num(values[1], "OFFSET") ?? 0 };
  }
  if (sep === ",") {
    return { limit: num(values[1], "LIMIT"), offset: num(values[0], "OFFSET") ?? 0 };
  }
  return { limit: num(values[0], "LIMIT"), offset: 0 };
}

function paramValue(v: Ast, env: Env): unknown {
  const n = Number(v.name);
  if (!Number.isInteger(n) || n < 1 || n > env.params.length) {
    throw badRequest(
      `parameter $${v.name} is not given (${env.params.length} parameter${env.params.length === 1 ? "" : "s"} sent)`,
    );
  }
  return env.params[n - 1];
}

// ---------------------------------------------------------------------------------------------
// SELECT

function bindSelect(ast: Ast, env: Env, outer: OuterScope | undefined): PlanNode {
  if (ast.type !== "select") {
    throw unsupported(`${String(ast.type).toUpperCase()} is not supported here; only SELECT is`);
  }
  registerCtes(ast.with, env, outer);
  const rels = bindFromClause(ast.from ?? [], env, outer);
  const scope: Scope = { columns: scopeColumnsOf(rels), ...(outer ? { outer } : {}) };

  // Joins and WHERE: conjuncts placed as low as they may go.
  let node = buildJoinTree(rels, scope, ast.where, env);

  // Aggregation.
  const { items: groupAsts, sets: writtenSets } = groupingOf(groupByItems(ast));
  const selectItems = expandSelect(ast.columns, scope, rels);
  const aggsInSelect = selectItems.some((s) => s.ast && containsAggregate(s.ast));
  const grouped =
    groupAsts.length > 0 || writtenSets !== undefined || aggsInSelect || ast.having != null;

  let outExprs: Expr[];
  let names: string[];
  let postScope: Scope;
  let lift: (e: Expr) => Expr = (e) => e;
  if (grouped) {
    const inGroupBy: BindOptions = { clause: "GROUP BY" };
    const boundGroups = groupAsts.map((g) => {
      const byPosition = g?.type === "number" ? selectItems[Number(g.value) - 1] : undefined;
      if (g?.type === "number" && !byPosition)
        throw badRequest(`GROUP BY position ${g.value} is not in select list`);
      if (byPosition) return byPosition.expr ?? bindExpr(byPosition.ast, scope, env, inGroupBy);
      if (g?.type === "column_ref" && !g.table) {
        const alias = selectItems.find((s) => s.name === nameOf(g.column) && s.alias);
        if (alias && !scope.columns.some((c) => c.name === nameOf(g.column))) {
          return alias.expr ?? bindExpr(alias.ast, scope, env, inGroupBy);
        }
      }
      return bindExpr(g, scope, env, inGroupBy);
    });
    const { groups, sets } = sameGroupsOnce(
      boundGroups,
      writtenSets,
      ast.groupby?.distinct === true,
    );
    const aggs: AggCall[] = [];
    lift = (e) => liftAggregates(e, groups, aggs, sets);
    const windows: WindowCall[] = [];
    const inSelect: BindOptions = {
      clause: "the SELECT list",
      aggregates: true,
      windows,
      namedWindows: namedWindowsOf(ast),
    };
    const selected = selectItems.map((s) => lift(s.expr ?? bindExpr(s.ast, scope, env, inSelect)));
    for (const w of windows) {
      w.args = w.args.map(lift);
      w.partition = w.partition.map(lift);
      w.order = w.order.map((k) => ({ ...k, expr: lift(k.expr) }));
    }
    const having = ast.having
      ? lift(bindExpr(ast.having, scope, env, { clause: "HAVING", aggregates: true }))
      : undefined;
    const orderSources = (ast.orderby ?? []).map((o: Ast) => o.expr);
    // ORDER BY expressions that are not output names are lifted too.
    const liftedOrder = orderSources.map((e: Ast) =>
      isOutputReference(e, selectItems)
        ? undefined
        : lift(bindExpr(e, scope, env, { clause: "ORDER BY", aggregates: true })),
    );
    const groupColumns: ColumnDef[] = [
      ...groups.map((g, i) => ({ name: `group${i}`, type: g.type })),
      ...aggs.map((a, i) => ({ name: `agg${i}`, type: a.type })),
    ];
    node = {
      kind: "aggregate",
      input: node,
      groups,
      ...(sets ? { sets } : {}),
      aggs,
      columns: groupColumns,
      estimate: estimateGroups(groups, node),
    };
    if (having) {
      requireBoolean(having, "HAVING");
      node = {
        kind: "filter",
        input: node,
        predicate: having,
        columns: node.columns,
        estimate: node.estimate,
      };
    }
    outExprs = selected;
    if (windows.length > 0) {
      const base = node.columns.length;
      node = windowNode(node, windows);
      outExprs = outExprs.map((e) => readWindows(e, base));
    }
    names = selectItems.map((s) => s.name);
    postScope = { columns: [] };
    return finishSelect(ast, env, node, outExprs, names, postScope, (i) => liftedOrder[i]);
  }
  const windows: WindowCall[] = [];
  outExprs = selectItems.map(
    (s) =>
      s.expr ??
      bindExpr(s.ast, scope, env, {
        clause: "the SELECT list",
        windows,
        namedWindows: namedWindowsOf(ast),
      }),
  );
  if (windows.length > 0) {
    const base = node.columns.length;
    node = windowNode(node, windows);
    outExprs = outExprs.map((e) => readWindows(e, base));
  }
  names = selectItems.map((s) => s.name);
  return finishSelect(ast, env, node, outExprs, names, scope, undefined);
}

/**
 * Grouping sets name the same expression once: `GROUPING SETS ((a, b), (a))` groups by one `a`,
 * which is NULL only in the rows of sets without it. Plain GROUP BY lists are left as written.
 * With GROUP BY DISTINCT, a set made twice is kept once.
 */
function sameGroupsOnce(
  bound: Expr[],
  sets: number[][] | undefined,
  distinctSets: boolean,
): { groups: Expr[]; sets?: number[][] } {
  if (!sets) return { groups: bound };
  const keys = bound.map(exprKey);
  const groups: Expr[] = [];
  const kept: string[] = [];
  const moved = keys.map((key, i) => {
    const at = kept.indexOf(key);
    if (at >= 0) return at;
    kept.push(key);
    groups.push(bound[i] as Expr);
    return groups.length - 1;
  });
  const renumbered = sets.map((set) => [...new Set(set.map((i) => moved[i] as number))]);
  if (!distinctSets) return { groups, sets: renumbered };
  // GROUP BY DISTINCT: a grouping set listed twice (in any order of its items) counts once.
  const seen = new Set<string>();
  const once = renumbered.filter((set) => {
    const key = [...set].sort((a, b) => a - b).join(",");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { groups, sets: once };
}

function groupByItems(ast: Ast): Ast[] {
  return ast.groupby?.columns ?? (Array.isArray(ast.groupby) ? ast.groupby : []);
}

/** Most grouping sets one GROUP BY may make (CUBE of n items makes 2^n). */
const MAX_GROUPING_SETS = 1024;

/**
 * GROUP BY's items and, where ROLLUP, CUBE, GROUPING SETS or an empty set `()` appear, the
 * grouping sets they make (indices into the items). Each element of the list makes sets of its
 * own and the list makes their cross product, as in PostgreSQL; a plain item or a composite
 * `(a, b)` is one set. GROUPING SETS may hold ROLLUP, CUBE and GROUPING SETS. Plain items only:
 * no sets.
 */
function groupingOf(groupAsts: Ast[]): { items: Ast[]; sets?: number[][] } {
  const items: Ast[] = [];
  /** A plain or composite element: the indices of the items it groups by. */
  const itemsOf = (element: Ast): number[] => {
    const parts = element?.type === "expr_list" ? (element.value as Ast[]) : [element];
    return parts.map((part) => {
      items.push(part);
      return items.length - 1;
    });
  };
  // `ROLLUP ((a, b))` reads as the argument list with parentheses of its own: one composite.
  const elementsOf = (call: Ast): Ast[] =>
    call.args?.parentheses === true ? [call.args] : (call.args?.value ?? []);
  const setsOf = (element: Ast): number[][] => {
    if (element?.type === EMPTY_GROUPING_SET) return [[]];
    const name = element?.type === "function" ? functionName(element) : "";
    if (name === GROUPING_SETS_CALL) return elementsOf(element).flatMap(setsOf);
    if (name === "rollup" || name === "cube") {
      const parts = elementsOf(element).map(itemsOf);
      const chosen =
        name === "rollup"
          ? parts.map((_, k) => parts.slice(0, parts.length - k)).concat([[]])
          : subsets(parts);
      return chosen.map((c) => c.flat());
    }
    return [itemsOf(element)];
  };
  let sets: number[][] = [[]];
  let grouped = false;
  for (const g of groupAsts) {
    if (isGroupingConstruct(g)) grouped = true;
    const own = setsOf(g);
    sets = sets.flatMap((s) => own.map((o) => [...s, ...o]));
    if (sets.length > MAX_GROUPING_SETS)
      throw new EntenteError(
        "TOO_LARGE",
        `GROUP BY makes more than ${MAX_GROUPING_SETS} grouping sets (CUBE of n items makes 2^n)`,
      );
  }
  return grouped ? { items, sets } : { items };
}

/** ROLLUP, CUBE, GROUPING SETS or `()`: an element that makes grouping sets. */
function isGroupingConstruct(g: Ast): boolean {
  if (g?.type === EMPTY_GROUPING_SET) return true;
  const name = g?.type === "function" ? functionName(g) : "";
  return name === GROUPING_SETS_CALL || name === "rollup" || name === "cube";
}

/** Every subset, largest first: CUBE (a, b) groups by (a, b), (a), (b), (). */
function subsets<T>(parts: T[]): T[][] {
  let all: T[][] = [[]];
  for (const p of parts) all = all.map((s) => [...s, p]).concat(all);
  return all;
}

/**
 * `OVER (w ORDER BY … frame)`: the named window's PARTITION BY, with its ORDER BY unless the
 * refinement has one, and the refinement's frame, under PostgreSQL's rules.
 */
function refinedWindow(base: Ast, own: Ast, name: string): Ast {
  if (own.partitionby) throw badRequest(`cannot override PARTITION BY clause of window "${name}"`);
  if (own.orderby && base.orderby)
    throw badRequest(`cannot override ORDER BY clause of window "${name}"`);
  if (base.window_frame_clause)
    throw badRequest(`cannot copy window "${name}" because it has a frame clause`);
  return { ...own, partitionby: base.partitionby, orderby: own.orderby ?? base.orderby };
}

/** The WINDOW clause's specifications by name; a name given twice is refused. */
function namedWindowsOf(ast: Ast): Map<string, Ast> {
  const named = new Map<string, Ast>();
  for (const item of ast.window?.expr ?? []) {
    const name = String(item.name).toLowerCase();
    if (named.has(name)) throw badRequest(`window "${item.name}" is already defined`);
    named.set(name, item.as_window_specification);
  }
  return named;
}

function isOutputReference(e: Ast, items: SelectItem[]): boolean {
  if (e?.type === "number") return true;
  if (e?.type === "column_ref" && !e.table) {
    const name = nameOf(e.column);
    return items.some((s) => s.alias && s.name.toLowerCase() === name.toLowerCase());
  }
  return false;
}

/** Projection, DISTINCT, ORDER BY (with hidden sort columns), LIMIT. */
function finishSelect(
  ast: Ast,
  env: Env,
  input: PlanNode,
  outExprs: Expr[],
  names: string[],
  scope: Scope,
  liftedOrder: ((i: number) => Expr | undefined) | undefined,
): PlanNode {
  const columns: ColumnDef[] = outExprs.map((e, i) => ({ name: names[i] as string, type: e.type }));
  const exprs = [...outExprs];
  const keys: SortKey[] = [];
  const distinctKind = String(ast.distinct?.type ?? "").toUpperCase();
  const distinct = distinctKind === "DISTINCT";
  /** An output column for an ORDER BY or DISTINCT ON item: a select-list column, or a hidden one. */
  const columnFor = (itemAst: Ast, bound: () => Expr, hiddenName: string): Expr =>
    orderTarget(itemAst, columns, () => {
      const e = bound();
      const same = exprs.findIndex((x) => exprKey(x) === exprKey(e));
      if (same >= 0) return { k: "col", i: same, type: e.type, name: names[same] ?? "" } as Expr;
      if (distinct)
        throw badRequest("for SELECT DISTINCT, ORDER BY expressions must appear in select list");
      exprs.push(e);
      return { k: "col", i: exprs.length - 1, type: e.type, name: hiddenName } as Expr;
    });
  for (const [i, o] of (ast.orderby ?? []).entries()) {
    const bound = () => liftedOrder?.(i) ?? bindExpr(o.expr, scope, env, { clause: "ORDER BY" });
    keys.push(sortKey(columnFor(o.expr, bound, `sort${i}`), o));
  }
  const distinctOn =
    distinctKind === "DISTINCT ON"
      ? distinctOnColumns(ast, scope, env, keys, columnFor, liftedOrder)
      : undefined;
  const hidden = exprs.length > columns.length;
  const projected: ColumnDef[] = exprs.map((e, i) => ({
    name: names[i] ?? `sort${i}`,
    type: e.type,
  }));
  let node: PlanNode = {
    kind: "project",
    input,
    exprs,
    columns: projected,
    estimate: input.estimate,
  };
  if (distinct)
    node = { kind: "distinct", input: node, columns: projected, estimate: node.estimate };
  if (keys.length > 0)
    node = { kind: "sort", input: node, keys, columns: projected, estimate: node.estimate };
  // DISTINCT ON keeps the first row of each value in ORDER BY's order: after the sort.
  if (distinctOn)
    node = {
      kind: "distinct",
      input: node,
      on: distinctOn,
      columns: projected,
      estimate: node.estimate,
    };
  node = applyLimit(node, ast, env);
  if (hidden) {
    node = {
      kind: "project",
      input: node,
      exprs: columns.map((c, i) => ({ k: "col", i, type: c.type, name: c.name })),
      columns,
      estimate: node.estimate,
    };
  }
  return node;
}

/**
 * DISTINCT ON's columns (output or hidden columns), checked against ORDER BY as PostgreSQL does:
 * the ORDER BY keys among them come first (a repeated key counts once), and those ORDER BY does
 * not name are sorted by after them, ascending — unless ORDER BY names another key first, which
 * is an error. In a grouped query only select-list columns.
 */
function distinctOnColumns(
  ast: Ast,
  scope: Scope,
  env: Env,
  keys: SortKey[],
  columnFor: (itemAst: Ast, bound: () => Expr, hiddenName: string) => Expr,
  liftedOrder: ((i: number) => Expr | undefined) | undefined,
): number[] {
  const items: Ast[] = (ast.distinct?.columns ?? []).map((c: Ast) => c.expr ?? c);
  const targets = items.map((item, i) => {
    const bound = () => {
      if (liftedOrder)
        throw unsupported(
          "DISTINCT ON an expression outside the select list of a grouped query is not supported",
        );
      return bindExpr(item, scope, env, { clause: "DISTINCT ON" });
    };
    return columnFor(item, bound, `distinct${i}`) as Extract<Expr, { k: "col" }>;
  });
  const on = targets.map((t) => t.i);
  if (keys.length === 0) return on;
  const sorted = [...new Set(keys.map((k) => (k.expr.k === "col" ? k.expr.i : -1)))];
  const other = sorted.findIndex((i) => !on.includes(i));
  const leading = other < 0 ? sorted : sorted.slice(0, other);
  const unsorted = targets.filter((t, j) => !leading.includes(t.i) && on.indexOf(t.i) === j);
  if (unsorted.length > 0 && other >= 0)
    throw badRequest("SELECT DISTINCT ON expressions must match initial ORDER BY expressions");
  for (const expr of unsorted) keys.push({ expr, desc: false, nullsFirst: false });
  return on;
}

interface SelectItem {
  name: string;
  alias: boolean;
  ast?: Ast;
  expr?: Expr;
}

function expandSelect(columns: Ast, scope: Scope, rels: Rel[]): SelectItem[] {
  const items: SelectItem[] = [];
  const list: Ast[] =
    columns === "*" ? [{ expr: { type: "column_ref", table: null, column: "*" } }] : columns;
  for (const c of list) {
    const e = c.expr;
    if (e?.type === "column_ref" && nameOf(e.column) === "*") {
      const q = qualifierOf(e);
      if (q && !rels.some((r) => sameName(r.qualifier, q))) {
        refuseCorrelatedReference(scope, q, "*");
        throw notFound(
          `unknown table "${q}" in ${q}.*${didYouMean(
            q,
            rels.map((r) => r.qualifier),
          )}`,
        );
      }
      if (rels.length === 0) throw badRequest("SELECT * with no tables specified is not valid");
      for (const sc of scope.columns) {
        if (q && sc.qualifier.toLowerCase() !== q.toLowerCase()) continue;
        sc.mark();
        items.push({
          name: sc.name,
          alias: false,
          expr: { k: "col", i: sc.slot, type: sc.type, name: sc.name },
        });
      }
      continue;
    }
    const alias = c.as ? nameOf(c.as) : undefined;
    items.push({ name: alias ?? defaultName(e), alias: alias !== undefined, ast: e });
  }
  return items;
}

function defaultName(e: Ast): string {
  if (e?.type === "column_ref") return nameOf(e.column);
  if (e?.type === "aggr_func") return String(e.name).toLowerCase();
  if (e?.type === "function") return nameOf(e.name?.name?.[0] ?? e.name).toLowerCase();
  if (e?.type === "cast") return defaultName(e.expr);
  return "?column?";
}

// ---------------------------------------------------------------------------------------------
// FROM

/**
 * The FROM items, left to right. A subquery among them is bound with the items to its left as its
 * outer scope, so that a reference to them is refused as LATERAL rather than reported unknown.
 */
function bindFromClause(items: Ast[], env: Env, outer: OuterScope | undefined): Rel[] {
  refuseUnsupportedFromItems(items, env);
  const rels: Rel[] = [];
  let offset = 0;
  for (const item of items) {
    const left: OuterScope = {
      scope: { columns: scopeColumnsOf(rels), ...(outer ? { outer } : {}) },
      construct: "a subquery in FROM that refers to another FROM item (LATERAL)",
      owner: "an earlier FROM item",
    };
    const rel = bindFromItem(item, env, offset, left);
    rels.push(rel);
    offset += rel.columns.length;
  }
  requireDistinctQualifiers(rels);
  return rels;
}

function scopeColumnsOf(rels: Rel[]): ScopeColumn[] {
  return rels.flatMap((rel, r) =>
    rel.columns.map((c, i) => ({
      qualifier: rel.qualifier,
      name: c.name,
      type: c.type,
      slot: rel.offset + i,
      rel: r,
      mark: () => {
        if (rel.node.kind === "scan") rel.node.needed[i] = (rel.node.needed[i] ?? 0) + 1;
        for (const s of rel.logical?.scans ?? []) s.needed[i] = (s.needed[i] ?? 0) + 1;
      },
    })),
  );
}

function requireDistinctQualifiers(rels: Rel[]): void {
  const seen = new Set<string>();
  for (const rel of rels) {
    const q = rel.qualifier.toLowerCase();
    if (seen.has(q)) throw badRequest(`table name "${rel.qualifier}" specified more than once`);
    seen.add(q);
  }
}

/** Whether a FROM item's columns may be renamed by its alias: a subquery, a CTE or a view. */
function renamable(item: Ast, env: Env): boolean {
  if (item.expr?.ast || item.expr?.type === "select") return true;
  if (item.db != null || item.schema != null) return false;
  const name = String(item.table ?? "");
  return env.ctes.has(name.toLowerCase()) || env.catalog.view?.(name) !== undefined;
}

/** FROM items the parser reads (some only as an odd alias) but the engine cannot run. */
function refuseUnsupportedFromItems(items: Ast[], env: Env): void {
  items.forEach((item, i) => {
    const alias = item.as == null ? "" : String(item.as);
    if (String(item.prefix ?? "").toUpperCase() === "LATERAL") {
      throw unsupported("LATERAL subqueries in FROM are not supported");
    }
    // `a NATURAL JOIN b` reads as `a AS natural JOIN b`, a join with no condition.
    if (alias.toUpperCase() === "NATURAL" && items[i + 1]?.join) {
      throw unsupported("NATURAL JOIN is not supported; use JOIN … USING or ON");
    }
    if (item.tablesample) throw unsupported("TABLESAMPLE is not supported");
    if (String(item.table ?? "").toUpperCase() === "ONLY" && alias) {
      throw unsupported("FROM ONLY is not supported");
    }
    if (item.expr?.type === "values") throw unsupported("VALUES lists are not supported");
    if (item.expr?.type === "function") {
      throw unsupported(`table function ${functionName(item.expr)}() in FROM is not supported`);
    }
    // `t AS x(a, b)` reads as the alias "x(a, b)": a subquery's, a CTE's or a view's columns
    // may be renamed so (see aliasOf), a table's not.
    if (/\(.*\)$/.test(alias) && !renamable(item, env)) {
      throw unsupported(`column names on a table in FROM (${alias}) are not supported`);
    }
  });
}

/**
 * A FROM item, under its alias; an alias with a column list (`AS c_orders (c_custkey, c_count)`)
 * renames the item's first columns, as in PostgreSQL.
 */
function bindFromItem(item: Ast, env: Env, offset: number, left: OuterScope): Rel {
  const alias = aliasOf(item.as);
  const rel = bindNamedFromItem({ ...item, as: alias.name }, env, offset, left);
  return alias.columns
    ? { ...rel, columns: renamed(rel.columns, alias.columns, rel.qualifier) }
    : rel;
}

/** `name` or `name (col, …)`: the parser gives an alias with a column list as one text. */
function aliasOf(as: Ast): { name: Ast; columns?: string[] } {
  if (typeof as !== "string") return { name: as };
  const m = /^\s*("(?:[^"]|"")+"|[^\s(]+)\s*\((.*)\)\s*$/s.exec(as);
  if (!m) return { name: as };
  const name = m[1] as string;
  return {
    name: name.startsWith('"') ? unquoted(name) : name,
    columns: aliasColumns(m[2] as string, as),
  };
}

/**
 * The names of an alias's column list. The parser hands them over without their quotes, so a
 * name is taken as written (names match without regard to case anyway), and one holding a comma
 * cannot be told apart from two.
 */
function aliasColumns(list: string, whole: string): string[] {
  const names = list.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) throw badRequest(`invalid column list in alias ${whole}`);
  return names;
}

function unquoted(name: string): string {
  return name.slice(1, -1).replaceAll('""', '"');
}

/** Columns with the first ones renamed; more names than columns is an error, as in PostgreSQL. */
function renamed(columns: ColumnDef[], names: string[], qualifier: string): ColumnDef[] {
  if (names.length > columns.length) {
    throw badRequest(
      `${qualifier} has ${columns.length} columns available but ${names.length} columns specified`,
    );
  }
  return columns.map((c, i) => (i < names.length ? { ...c, name: names[i] as string } : c));
}

function bindNamedFromItem(item: Ast, env: Env, offset: number, left: OuterScope): Rel {
  const joinType = joinTypeOf(item.join);
  const base = { joinType, on: item.on, using: item.using?.map((u: Ast) => nameOf(u)) };
  if (item.expr?.ast || item.expr?.type === "select") {
    const sub = item.expr.ast ?? item.expr;
    const qualifier = item.as ? nameOf(item.as) : undefined;
    if (!qualifier) throw unsupported("a subquery in FROM without an alias is not supported");
    const node = bindSetExpression(sub, env, left);
    return { ...base, node, qualifier, columns: node.columns, offset };
  }
  if (item.type === "expr" || item.expr) throw unsupported("this FROM item is not supported");
  const parts = [item.db, item.schema, item.table].filter((p) => p != null).map(String);
  if (parts.length === 1) {
    const key = (parts[0] as string).toLowerCase();
    const cte = env.ctes.get(key);
    if (cte) {
      // Within its own body the name means the table (WITH is not RECURSIVE); this also ends
      // cycles between CTEs.
      env.ctes.delete(key);
      let node: PlanNode;
      try {
        node = bindSetExpression(cte.ast, env, cte.outer);
      } finally {
        env.ctes.set(key, cte);
      }
      return {
        ...base,
        node,
        qualifier: item.as ? nameOf(item.as) : (parts[0] as string),
        columns: cte.columns
          ? renamed(node.columns, cte.columns, parts[0] as string)
          : node.columns,
        offset,
      };
    }
  }
  const view = parts.length === 1 ? viewOf(parts[0] as string, env) : undefined;
  if (view)
    return {
      ...base,
      node: view,
      qualifier: item.as ? nameOf(item.as) : (parts[0] as string),
      columns: view.columns,
      offset,
    };
  const logical = parts.length === 1 ? env.catalog.logical?.(parts[0] as string) : undefined;
  if (logical) {
    const alias = item.as ? nameOf(item.as) : logical.name;
    const scans = logical.members.map((m) => scanOf(m.table, alias));
    const node: PlanNode = {
      kind: "union",
      inputs: scans,
      columns: logical.columns,
      estimate: scans.reduce((s, x) => s + x.estimate, 0),
      shards: {
        read: logical.members.map((m) => ({
          label: m.label,
          constraint: m.constraint,
          why: judgeMember(m, logical.columns, []).why,
        })),
        pruned: [],
      },
    };
    return {
      ...base,
      node,
      qualifier: alias,
      columns: logical.columns,
      offset,
      logical: { table: logical, scans },
    };
  }
  const table = env.catalog.resolve(parts);
  const scan = scanOf(table, item.as ? nameOf(item.as) : table.name);
  return { ...base, node: scan, qualifier: scan.alias, columns: scan.columns, offset };
}

/**
 * A configured view, bound here as its own query (it sees no CTE or column of the statement
 * using it). A view that reaches itself through others is refused.
 */
function viewOf(name: string, env: Env): PlanNode | undefined {
  const ast = env.catalog.view?.(name);
  if (!ast) return undefined;
  const key = name.toLowerCase();
  const expanding = env.views ?? new Set<string>();
  if (expanding.has(key)) throw badRequest(`view "${name}" refers to itself`);
  const inner: Env = { ...env, ctes: new Map(), views: new Set([...expanding, key]) };
  return bindSetExpression(structuredClone(ast), inner, undefined);
}

function scanOf(table: CatalogTable, alias: string): ScanNode {
  const columns = table.columns.map((c) => ({ name: c.name, type: c.type }));
  return {
    kind: "scan",
    table,
    alias,
    columns,
    needed: columns.map(() => 0),
    pushed: [],
    local: [],
    estimate: table.rowCount ?? 1000,
  };
}

function joinTypeOf(join: unknown): JoinType | undefined {
  if (join == null) return undefined;
  const j = String(join).toUpperCase();
  if (j.startsWith("LEFT")) return "left";
  if (j.startsWith("RIGHT")) return "right";
  if (j.startsWith("FULL")) return "full";
  if (j.startsWith("CROSS")) return "cross";
  if (j === "JOIN" || j.startsWith("INNER")) return "inner";
  // The parser reads `… FROM t UNION (SELECT …)` as a FROM item joined by UNION.
  if (/^(UNION|INTERSECT|EXCEPT)\b/.test(j))
    throw unsupported(
      `a parenthesized query after ${j} is not supported; put it in a subquery in FROM (SELECT * FROM (…) AS s)`,
    );
  throw unsupported(`${j} is not supported`);
}

function splitConjuncts(e: Expr): Expr[] {
  return e.k === "and" ? e.args.flatMap(splitConjuncts) : [e];
}

/** The slots an expression reads (not counting subquery internals). */
export function slotsOf(e: Expr, out: Set<number> = new Set()): Set<number> {
  visit(e, (x) => {
    if (x.k === "col") out.add(x.i);
  });
  return out;
}

export function visit(e: Expr, f: (e: Expr) => void): void {
  f(e);
  for (const c of exprChildren(e)) visit(c, f);
}

/** A copy of `e` with every column slot moved by `delta`. */
export function shiftExpr(e: Expr, delta: number): Expr {
  if (delta === 0) return e;
  return mapExpr(e, (x) => (x.k === "col" ? { ...x, i: x.i + delta } : undefined));
}

export function mapExpr(e: Expr, f: (e: Expr) => Expr | undefined): Expr {
  const replaced = f(e);
  if (replaced) return replaced;
  const m = (x: Expr) => mapExpr(x, f);
  switch (e.k) {
    case "cmp":
    case "arith":
    case "concat":
      return { ...e, l: m(e.l), r: m(e.r) } as Expr;
    case "and":
    case "or":
      return { ...e, args: e.args.map(m) };
    case "not":
    case "neg":
    case "isnull":
    case "cast":
      return { ...e, e: m(e.e) } as Expr;
    case "in":
      return { ...e, e: m(e.e), list: e.list.map(m) };
    case "between":
      return { ...e, e: m(e.e), lo: m(e.lo), hi: m(e.hi) };
    case "like":
      return { ...e, e: m(e.e), pattern: m(e.pattern) };
    case "case": {
      const c: Extract<Expr, { k: "case" }> = {
        ...e,
        whens: e.whens.map(([a, b]) => [m(a), m(b)] as [Expr, Expr]),
      };
      if (e.operand) c.operand = m(e.operand);
      if (e.else) c.else = m(e.else);
      return c;
    }
    case "fn":
      return { ...e, args: e.args.map(m) };
    case "inSub":
    case "exists":
      return { ...e, keys: e.keys.map(m) };
    case "scalarSub":
      return e.keys ? { ...e, keys: e.keys.map(m) } : e;
    case "agg":
      return e.arg ? { ...e, arg: m(e.arg) } : e;
    case "grouping":
      return { ...e, args: e.args.map(m) };
    default:
      return e;
  }
}

function relOfSlot(rels: Rel[], slot: number): number {
  for (let r = rels.length - 1; r >= 0; r--) if (slot >= (rels[r] as Rel).offset) return r;
  return 0;
}

function buildJoinTree(rels: Rel[], scope: Scope, whereAst: Ast, env: Env): PlanNode {
  if (rels.length === 0) {
    const values: PlanNode = { kind: "values", rows: [[]], columns: [], estimate: 1 };
    if (!whereAst) return values;
    const w = bindExpr(whereAst, scope, env, { clause: "WHERE" });
    requireBoolean(w, "WHERE");
    return { kind: "filter", input: values, predicate: w, columns: [], estimate: 1 };
  }
  const n = rels.length;
  // Which relations can be NULL-extended by an outer join: their predicates from WHERE stay above.
  const nullable = new Array<boolean>(n).fill(false);
  rels.forEach((rel, i) => {
    if (rel.joinType === "left" || rel.joinType === "full") nullable[i] = true;
    if (rel.joinType === "right" || rel.joinType === "full")
      for (let j = 0; j < i; j++) nullable[j] = true;
  });
  const hasOuter = rels.some(
    (r) => r.joinType === "left" || r.joinType === "right" || r.joinType === "full",
  );
  const relFilters: Expr[][] = rels.map(() => []);
  const joinConds: Expr[][] = rels.map(() => []);
  const treeFilters: Expr[][] = rels.map(() => []);
  const top: Expr[] = [];

  const relsOf = (e: Expr) => new Set([...slotsOf(e)].map((s) => relOfSlot(rels, s)));
  /**
   * Whether a WHERE condition over FROM items up to `i` may be the condition of the join that
   * adds item i: that join is inner (or a comma) and no later RIGHT or FULL join null-extends
   * the rows it made — LEFT joins after it keep those rows as they are, so the filter commutes.
   */
  const whereJoinsAt = (i: number) => {
    const type = rels[i]?.joinType ?? "inner";
    if (type !== "inner" && type !== "cross") return false;
    return !rels.slice(i + 1).some((r) => r.joinType === "right" || r.joinType === "full");
  };

  // ON conditions, bound against the relations to their left and themselves.
  rels.forEach((rel, i) => {
    if (i === 0) return;
    const visible: Scope = {
      columns: scope.columns.filter((c) => c.rel <= i),
      ...(scope.outer ? { outer: scope.outer } : {}),
    };
    const conds: Expr[] = [];
    if (rel.on) {
      const on = bindExpr(rel.on, visible, env, { clause: "JOIN/ON" });
      requireBoolean(on, "JOIN/ON");
      conds.push(...splitConjuncts(on));
    }
    for (const u of rel.using ?? []) {
      const l = resolveColumn({ columns: visible.columns.filter((c) => c.rel < i) }, undefined, u);
      const r = resolveColumn(
        { columns: visible.columns.filter((c) => c.rel === i) },
        undefined,
        u,
      );
      conds.push(comparison("=", l, r));
    }
    for (const c of conds) {
      const rs = relsOf(c);
      const type = rel.joinType ?? "inner";
      if (type === "inner" || type === "cross") {
        if (rs.size === 1 && !nullable[[...rs][0] as number])
          relFilters[[...rs][0] as number]?.push(c);
        else joinConds[i]?.push(c);
      } else if (type === "left" && rs.size === 1 && rs.has(i)) relFilters[i]?.push(c);
      else if (type === "right" && rs.size > 0 && !rs.has(i)) treeFilters[i]?.push(c);
      else joinConds[i]?.push(c);
    }
  });

  if (whereAst) {
    const w = bindExpr(whereAst, scope, env, { clause: "WHERE" });
    requireBoolean(w, "WHERE");
    const { conjuncts, implied } = factorDisjunctions(splitConjuncts(w), relsOf, hasSubquery);
    // Count the implied filters' column references, as binding counted every other one.
    for (const c of implied)
      for (const slot of slotsOf(c)) scope.columns.find((sc) => sc.slot === slot)?.mark();
    for (const c of conjuncts) {
      const rs = relsOf(c);
      const only = rs.size === 1 ? ([...rs][0] as number) : undefined;
      // `col IN (subquery)` stays with its table's scan, where the subquery's keys can prune it.
      const semiJoin = c.k === "inSub" && !c.not;
      if (only !== undefined && !nullable[only] && (semiJoin || !hasSubquery(c)))
        relFilters[only]?.push(c);
      else if (rs.size > 1 && whereJoinsAt(Math.max(...rs))) joinConds[Math.max(...rs)]?.push(c);
      else top.push(c);
    }
  }

  const leaves = rels.map((rel, i) => attachFilters(rel, relFilters[i] ?? [], env));
  if (!hasOuter && n >= 3) {
    const joined = costOrderedJoins(rels, leaves, joinConds.flat(), env.catalog);
    return top.length > 0 ? filterNode(joined, top) : joined;
  }
  let tree: PlanNode = leaves[0] as PlanNode;
  for (let i = 1; i < n; i++) {
    const rel = rels[i] as Rel;
    if (treeFilters[i]?.length) tree = filterNode(tree, treeFilters[i] as Expr[]);
    const right = leaves[i] as PlanNode;
    const leftKeys: Expr[] = [];
    const rightKeys: Expr[] = [];
    const residual: Expr[] = [];
    for (const c of joinConds[i] ?? []) {
      const eq = equiKey(c, rel.offset);
      if (eq) {
        leftKeys.push(eq[0]);
        rightKeys.push(shiftExpr(eq[1], -rel.offset));
      } else residual.push(c);
    }
    const type: JoinType =
      rel.joinType === "cross" || (rel.joinType ?? "inner") === "inner"
        ? leftKeys.length === 0 && residual.length === 0
          ? "cross"
          : "inner"
        : (rel.joinType as JoinType);
    const join: JoinNode = {
      kind: "join",
      type,
      left: tree,
      right,
      leftKeys,
      rightKeys,
      build: "right",
      columns: [...tree.columns, ...right.columns],
      estimate: 0,
    };
    if (residual.length > 0)
      join.residual =
        residual.length === 1
          ? (residual[0] as Expr)
          : { k: "and", args: residual, type: "boolean" };
    join.estimate = estimateJoin(join);
    tree = join;
  }
  if (top.length > 0) tree = filterNode(tree, top);
  return tree;
}

/** `left = right` across a join whose right input starts at `rightOffset`, as [left, right]. */
function equiKey(c: Expr, rightOffset: number): [Expr, Expr] | undefined {
  if (c.k !== "cmp" || c.op !== "=") return undefined;
  const ls = slotsOf(c.l);
  const rs = slotsOf(c.r);
  if (ls.size === 0 || rs.size === 0 || hasSubquery(c)) return undefined;
  const allLeft = (s: Set<number>) => [...s].every((x) => x < rightOffset);
  const allRight = (s: Set<number>) => [...s].every((x) => x >= rightOffset);
  if (allLeft(ls) && allRight(rs)) return [c.l, c.r];
  if (allRight(ls) && allLeft(rs)) return [c.r, c.l];
  return undefined;
}

/**
 * Inner joins of three or more FROM items, in the order the cost model chooses (join-order.ts),
 * each condition applied at the first join that has all its tables. Columns come back in FROM
 * order, which every expression above the joins reads.
 */
function costOrderedJoins(
  rels: Rel[],
  leaves: PlanNode[],
  conds: Expr[],
  catalog: Catalog,
): PlanNode {
  const tablesOf = (e: Expr) => [...new Set([...slotsOf(e)].map((s) => relOfSlot(rels, s)))];
  const columnAt = (slot: number) => {
    const r = relOfSlot(rels, slot);
    const leaf = leaves[r] as PlanNode;
    return { leaf, index: slot - (rels[r] as Rel).offset };
  };
  const distinctOf = (e: Expr): number | undefined => {
    if (e.k !== "col") return undefined;
    const { leaf, index } = columnAt(e.i);
    const name = leaf.kind === "scan" ? leaf.columns[index]?.name : undefined;
    return name === undefined || leaf.kind !== "scan" ? undefined : leaf.table.distinct?.[name];
  };
  const conditions: JoinCondition[] = conds.map((c) => {
    const tables = tablesOf(c);
    if (
      c.k === "cmp" &&
      c.op === "=" &&
      c.l.k === "col" &&
      c.r.k === "col" &&
      tables.length === 2
    ) {
      const [l, r] = [relOfSlot(rels, c.l.i), relOfSlot(rels, c.r.i)];
      return { tables: [l, r], equi: { distinct: [distinctOf(c.l), distinctOf(c.r)] } };
    }
    return { tables };
  });
  const plan = chooseJoinOrder(
    leaves.map((leaf) => ({
      rows: leaf.estimate,
      tableRows: leaf.kind === "scan" ? (leaf.table.rowCount ?? leaf.estimate) : leaf.estimate,
      ...(joinableInSource(leaf, catalog) ? { source: leaf.table.source } : {}),
    })),
    conditions,
  );
  const used = new Set<number>();
  const build = (shape: JoinShape): { node: PlanNode; slots: number[]; tables: number[] } => {
    if (typeof shape === "number") {
      const rel = rels[shape] as Rel;
      const node = leaves[shape] as PlanNode;
      return { node, slots: node.columns.map((_, i) => rel.offset + i), tables: [shape] };
    }
    const left = build(shape[0]);
    const right = build(shape[1]);
    const slots = [...left.slots, ...right.slots];
    const tables = [...left.tables, ...right.tables];
    const position = new Map(slots.map((slot, p) => [slot, p]));
    const leftKeys: Expr[] = [];
    const rightKeys: Expr[] = [];
    const residual: Expr[] = [];
    conds.forEach((c, k) => {
      if (used.has(k) || !tablesOf(c).every((t) => tables.includes(t))) return;
      used.add(k);
      const moved = mapExpr(c, (x) =>
        x.k === "col" ? { ...x, i: position.get(x.i) as number } : undefined,
      );
      const eq = equiKey(moved, left.slots.length);
      if (eq) {
        leftKeys.push(eq[0]);
        rightKeys.push(shiftExpr(eq[1], -left.slots.length));
      } else residual.push(moved);
    });
    const join: JoinNode = {
      kind: "join",
      type: leftKeys.length === 0 && residual.length === 0 ? "cross" : "inner",
      left: left.node,
      right: right.node,
      leftKeys,
      rightKeys,
      build: "right",
      columns: [...left.node.columns, ...right.node.columns],
      estimate: Math.round(plan.rowsOf(tables)),
    };
    if (residual.length > 0)
      join.residual =
        residual.length === 1
          ? (residual[0] as Expr)
          : { k: "and", args: residual, type: "boolean" };
    return { node: join, slots, tables };
  };
  const joined = build(plan.shape);
  if (joined.slots.every((slot, p) => slot === p)) return joined.node;
  const position = new Map(joined.slots.map((slot, p) => [slot, p]));
  const columns = leaves.flatMap((leaf) => leaf.columns);
  const exprs: Expr[] = columns.map((c, slot) => ({
    k: "col",
    i: position.get(slot) as number,
    type: c.type,
    name: c.name,
  }));
  return { kind: "project", input: joined.node, exprs, columns, estimate: joined.node.estimate };
}

/**
 * A scan its source could join with others of the same source in one statement: every
 * predicate sent there, and a source that joins.
 */
function joinableInSource(leaf: PlanNode, catalog: Catalog): leaf is ScanNode {
  if (leaf.kind !== "scan" || leaf.local.length > 0 || leaf.limit !== undefined) return false;
  const { capabilities } = catalog.source(leaf.table.source);
  return capabilities.joins && capabilities.filters;
}

function hasSubquery(e: Expr): boolean {
  let found = false;
  visit(e, (x) => {
    if (x.k === "inSub" || x.k === "exists" || x.k === "scalarSub") found = true;
  });
  return found;
}

function filterNode(input: PlanNode, conds: Expr[]): PlanNode {
  const predicate: Expr =
    conds.length === 1 ? (conds[0] as Expr) : { k: "and", args: conds, type: "boolean" };
  return {
    kind: "filter",
    input,
    predicate,
    columns: input.columns,
    estimate: Math.max(1, Math.round(input.estimate * 0.5)),
  };
}

/** Puts a relation's own predicates into its scan (pushed where the source agrees) or a filter. */
function attachFilters(rel: Rel, conds: Expr[], env: Env): PlanNode {
  const local = conds.map((c) => shiftExpr(c, -rel.offset));
  if (rel.logical && rel.node.kind === "union") {
    // Each member gets the predicates and its own boundary; members that cannot match are pruned.
    const { table, scans } = rel.logical;
    const kept: ScanNode[] = [];
    const read: ShardRead[] = [];
    const pruned: ShardPruned[] = [];
    table.members.forEach((m, j) => {
      const scan = scans[j] as ScanNode;
      const verdict = judgeMember(m, table.columns, local);
      if (!verdict.read) {
        pruned.push({ label: m.label, why: verdict.why });
        return;
      }
      for (const c of local) placeInScan(scan, narrowForMember(m, table.columns, c), env, true);
      for (const c of enforcedPredicate(m, table.columns)) placeInScan(scan, c, env, false);
      scan.estimate = estimateScan(scan);
      kept.push(scan);
      read.push({ label: m.label, constraint: m.constraint, why: verdict.why });
    });
    rel.node.inputs = kept;
    rel.node.shards = { read, pruned };
    rel.node.estimate = kept.reduce((s, x) => s + x.estimate, 0);
    rel.node.note = `${table.kind} ${table.name}: reads ${read.map((r) => r.label).join(", ") || "nothing"}${pruned.length > 0 ? `; pruned ${pruned.map((p) => p.label).join(", ")}` : ""}`;
    return rel.node;
  }
  if (rel.node.kind !== "scan") return local.length > 0 ? filterNode(rel.node, local) : rel.node;
  const scan = rel.node;
  for (const c of local) placeInScan(scan, c, env, true);
  scan.estimate = estimateScan(scan);
  return scan;
}

/** Pushes a predicate to the scan's source where it computes it exactly, else keeps it local. */
function placeInScan(scan: ScanNode, c: Expr, env: Env, marked: boolean): void {
  const source = env.catalog.source(scan.table.source);
  if (!hasSubquery(c) && canPush(c, source) && !computesWithFloat(c, scan.table.columns, source)) {
    scan.pushed.push(c);
    // The source evaluates it: its columns need not be fetched for it.
    if (marked) {
      visit(c, (x) => {
        if (x.k === "col") scan.needed[x.i] = (scan.needed[x.i] ?? 1) - 1;
      });
    }
  } else {
    scan.local.push(c);
    if (!marked) {
      visit(c, (x) => {
        if (x.k === "col") scan.needed[x.i] = (scan.needed[x.i] ?? 0) + 1;
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Aggregates

function containsAggregate(e: Ast): boolean {
  if (!e || typeof e !== "object") return false;
  // `sum(x) OVER (…)` is a window call; an aggregate inside it still groups the query.
  if (e.type === "aggr_func" && !e.over) return true;
  if (e.ast) return false; // a subquery's aggregates are its own
  for (const v of Object.values(e)) {
    if (
      Array.isArray(v) ? v.some(containsAggregate) : typeof v === "object" && containsAggregate(v)
    )
      return true;
  }
  return false;
}

/** Whether an expression calls a window function (not counting its subqueries'). */
function containsWindow(e: Ast): boolean {
  if (!e || typeof e !== "object") return false;
  if (e.over) return true;
  if (e.ast) return false;
  return Object.values(e).some((v) =>
    Array.isArray(v) ? v.some(containsWindow) : typeof v === "object" && containsWindow(v),
  );
}

/** Rewrites an expression over the FROM row into one over the aggregate's output row. */
function liftAggregates(
  e: Expr,
  groups: Expr[],
  aggs: AggCall[],
  sets: number[][] | undefined,
): Expr {
  const groupKeys = groups.map(exprKey);
  return mapExpr(e, (x) => {
    const g = groupKeys.indexOf(exprKey(x));
    if (g >= 0 && x.k !== "lit") return { k: "col", i: g, type: x.type, name: `group${g}` };
    if (x.k === "grouping") {
      const groupingArgs = groupingPositions(x.args, groupKeys);
      // Without grouping sets every argument is grouped in every row.
      if (!sets) return { k: "lit", v: 0, type: "integer" };
      const masks = sets.map((set) =>
        groupingArgs.reduce((mask, g) => (mask << 1) | (set.includes(g) ? 0 : 1), 0),
      );
      const call: AggCall = {
        fn: "grouping",
        distinct: false,
        type: "integer",
        masks,
        groupingArgs,
      };
      aggs.push(call);
      return { k: "col", i: groups.length + aggs.length - 1, type: "integer", name: "grouping" };
    }
    if (x.k === "agg") {
      const call: AggCall = {
        fn: x.fn,
        distinct: x.distinct,
        type: x.type,
        ...(x.arg ? { arg: x.arg } : {}),
      };
      const key = exprKey(x);
      let j = aggs.findIndex((a) => exprKey({ k: "agg", ...a } as Expr) === key);
      if (j < 0) {
        aggs.push(call);
        j = aggs.length - 1;
      }
      return { k: "col", i: groups.length + j, type: x.type, name: `agg${j}` };
    }
    if (x.k === "col") {
      throw badRequest(
        `column "${x.name}" must appear in the GROUP BY clause or be used in an aggregate function`,
      );
    }
    return undefined;
  });
}

/**
 * GROUPING(a, b)'s arguments as indices of the groups. Its value in each grouping set has a bit
 * per argument, the last argument's the lowest, set where the argument is not grouped in it.
 */
function groupingPositions(args: Expr[], groupKeys: string[]): number[] {
  const positions = args.map((a) => {
    const g = groupKeys.indexOf(exprKey(a));
    if (g < 0)
      throw badRequest(
        "arguments to GROUPING must be grouping expressions of the associated query level",
      );
    return g;
  });
  if (positions.length > 31) throw badRequest("GROUPING must have fewer than 32 arguments");
  return positions;
}

/** A structural key for an expression (bigints included), to match GROUP BY expressions. */
export function exprKey(e: Expr): string {
  return JSON.stringify(e, (k, v) =>
    k === "name" ? undefined : typeof v === "bigint" ? `${v}n` : v,
  );
}

// ---------------------------------------------------------------------------------------------
// Expressions

interface BindOptions {
  /** Where the expression stands, to name a refused subquery: "WHERE", "the SELECT list". */
  clause: string;
  aggregates?: boolean;
  inAggregate?: boolean;
  /** The SELECT list's window calls, where window functions may stand. */
  windows?: WindowCall[];
  /** The WINDOW clause's specifications, by name. */
  namedWindows?: Map<string, Ast>;
}

/** A column of the query's own FROM; a name that only an enclosing query has is refused. */
function resolveColumn(scope: Scope, table: string | undefined, name: string): Expr {
  const found = lookup(scope, table, name);
  if (found) {
    found.mark();
    return { k: "col", i: found.slot, type: found.type, name: found.name };
  }
  refuseCorrelatedReference(scope, table, name);
  if (!table && SQL_VALUE_FUNCTIONS.has(name.toLowerCase())) {
    throw unsupported(`${name.toUpperCase()} is not supported`);
  }
  throw unknownColumn(scope, table, name);
}

/** Keywords PostgreSQL reads as functions without parentheses; the parser reads them as names. */
const SQL_VALUE_FUNCTIONS = new Set([
  "current_catalog",
  "current_date",
  "current_role",
  "current_schema",
  "current_time",
  "current_timestamp",
  "current_user",
  "localtime",
  "localtimestamp",
  "session_user",
  "user",
]);

/** Throws UNSUPPORTED when an enclosing query resolves the name (`*` for `table.*`). */
function refuseCorrelatedReference(scope: Scope, table: string | undefined, name: string): void {
  const hit = enclosingReference(scope, table, name);
  if (!hit) return;
  const ref = name === "*" ? `${table}.*` : `${hit.column.qualifier}.${hit.column.name}`;
  throw unsupported(
    `${hit.link.construct} is not supported (it references "${ref}" of ${hit.link.owner})`,
  );
}

/**
 * The enclosing query's column a name reaches, found as PostgreSQL finds it: a qualified name at
 * the innermost query with that qualifier, an unqualified one at the innermost with the column.
 */
function enclosingReference(
  scope: Scope,
  table: string | undefined,
  name: string,
): { link: OuterScope; column: ScopeColumn } | undefined {
  for (let inner = scope; inner.outer; inner = inner.outer.scope) {
    if (table && hasQualifier(inner, table)) return undefined;
    const level = inner.outer.scope;
    const column =
      name === "*" && table
        ? level.columns.find((c) => sameName(c.qualifier, table))
        : lookup(level, table, name);
    if (column) return { link: inner.outer, column };
  }
  return undefined;
}

function unknownColumn(scope: Scope, table: string | undefined, name: string): EntenteError {
  if (!table) {
    const known = scope.columns.map((c) => c.name);
    return notFound(`unknown column "${name}"${didYouMean(name, known)}`, { column: name });
  }
  const owner = scopeWithQualifier(scope, table);
  if (!owner) {
    const quals = [...new Set(scope.columns.map((c) => c.qualifier))];
    return notFound(`missing FROM-clause entry for table "${table}"${didYouMean(table, quals)}`);
  }
  const known = owner.columns.filter((c) => sameName(c.qualifier, table)).map((c) => c.name);
  return notFound(`unknown column "${table}.${name}"${didYouMean(name, known)}`, {
    column: name,
  });
}

function scopeWithQualifier(scope: Scope, table: string): Scope | undefined {
  for (let s: Scope | undefined = scope; s; s = s.outer?.scope) {
    if (hasQualifier(s, table)) return s;
  }
  return undefined;
}

function hasQualifier(scope: Scope, table: string): boolean {
  return scope.columns.some((c) => sameName(c.qualifier, table));
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function lookup(scope: Scope, table: string | undefined, name: string): ScopeColumn | undefined {
  const pick = (exact: boolean) =>
    scope.columns.filter(
      (c) =>
        (!table ||
          (exact ? c.qualifier === table : c.qualifier.toLowerCase() === table.toLowerCase())) &&
        (exact ? c.name === name : c.name.toLowerCase() === name.toLowerCase()),
    );
  let matches = pick(true);
  if (matches.length === 0) matches = pick(false);
  if (matches.length > 1) {
    const where = matches.map((c) => `${c.qualifier}.${c.name}`).join(", ");
    throw badRequest(`column reference "${name}" is ambiguous: it could be ${where}`);
  }
  return matches[0];
}

function requireBoolean(e: Expr, where: string): void {
  if (e.type !== "boolean" && e.type !== "null") {
    throw badRequest(`argument of ${where} must be type boolean, not type ${e.type}`);
  }
}

function literalOf(v: unknown): Expr {
  if (v === null || v === undefined) return { k: "lit", v: null, type: "null" };
  if (typeof v === "boolean") return { k: "lit", v, type: "boolean" };
  if (typeof v === "bigint") return { k: "lit", v, type: "bigint" };
  if (typeof v === "number") {
    if (Number.isInteger(v) && Math.abs(v) <= 2147483647) return { k: "lit", v, type: "integer" };
    if (Number.isSafeInteger(v)) return { k: "lit", v: BigInt(v), type: "bigint" };
    // A fraction is a decimal, its shortest text, as a literal written in the statement is and
    // as PostgreSQL types a parameter beside a numeric; beside a double it becomes one.
    const decimal = Number.isInteger(v) ? undefined : Decimal.fromDouble(v);
    return decimal ? { k: "lit", v: decimal, type: "decimal" } : { k: "lit", v, type: "double" };
  }
  if (typeof v === "string") return { k: "lit", v, type: "text" };
  throw badRequest(`unsupported parameter value ${JSON.stringify(v)}`);
}

function numberLiteral(raw: unknown): Expr {
  const s = String(raw);
  if (/^-?\d+$/.test(s)) {
    const b = BigInt(s);
    if (b <= 2147483647n && b >= -2147483648n) return { k: "lit", v: Number(b), type: "integer" };
    return { k: "lit", v: b, type: "bigint" };
  }
  const d = Decimal.parse(s);
  if (!d) throw badRequest(`invalid number ${s}`);
  return { k: "lit", v: d, type: "decimal" };
}

function typeFamily(t: SqlType): string {
  if (isNumericType(t)) return "number";
  return t;
}

function typesCompatible(a: SqlType, b: SqlType): boolean {
  return (
    a === "null" ||
    b === "null" ||
    a === "unknown" ||
    b === "unknown" ||
    typeFamily(a) === typeFamily(b)
  );
}

function unify(a: SqlType, b: SqlType): SqlType {
  if (a === "null") return b;
  if (b === "null" || a === b) return a;
  if (isNumericType(a) && isNumericType(b)) {
    if (a === "double" || b === "double") return "double";
    if (a === "decimal" || b === "decimal") return "decimal";
    return "bigint";
  }
  return a;
}

/** A text literal next to a typed operand takes the operand's type, as PostgreSQL's unknown literals do. */
function coerce(lit: Expr, to: SqlType): Expr {
  if (lit.k !== "lit" || lit.type !== "text" || to === "text" || to === "null" || to === "unknown")
    return lit;
  return { k: "lit", v: castValue(lit.v as Value, to), type: to };
}

function comparison(op: Extract<Expr, { k: "cmp" }>["op"], l0: Expr, r0: Expr): Expr {
  const aligned = alignDateTime([coerce(l0, r0.type), coerce(r0, l0.type)]);
  const [l, r] = decimalsAsDoubles(aligned) as [Expr, Expr];
  if (!typesCompatible(l.type, r.type)) {
    throw badRequest(`type mismatch: operator does not exist: ${l.type} ${op} ${r.type}`);
  }
  return { k: "cmp", op, l, r, type: "boolean" };
}

/**
 * A decimal literal compared with a double is that double, as PostgreSQL casts numeric to
 * float8 there. (Two columns are left as they are, to stay a join's keys: compareValues and
 * keyOf compare a decimal with a fractional double as doubles already.)
 */
function decimalsAsDoubles(exprs: Expr[]): Expr[] {
  if (!exprs.some((x) => x.type === "double")) return exprs;
  return exprs.map(
    (x): Expr =>
      x.k === "lit" && x.type === "decimal" && x.v !== null
        ? { k: "lit", v: Number(x.v), type: "double" }
        : x,
  );
}

const DAY_NS = 86_400_000_000_000n;

/**
 * Dates beside timestamps compare as PostgreSQL compares them, the date as its midnight. A
 * timestamp literal at midnight becomes a date literal instead, so a predicate such as
 * `d < date '1995-01-01' + interval '1' year` still goes to the source as a plain date bound.
 */
function alignDateTime(exprs: Expr[]): Expr[] {
  const has = (t: SqlType) => exprs.some((x) => x.type === t);
  if (!has("date") || !has("timestamp")) return exprs;
  const atMidnight = (x: Expr): x is Extract<Expr, { k: "lit" }> =>
    x.k === "lit" && typeof x.v === "bigint" && ((x.v % DAY_NS) + DAY_NS) % DAY_NS === 0n;
  const asDates = exprs.map(
    (x): Expr =>
      x.type === "timestamp" && atMidnight(x) ? { k: "lit", v: toDate(x.v), type: "date" } : x,
  );
  if (!asDates.some((x) => x.type === "timestamp")) return asDates;
  return exprs.map((x): Expr => {
    if (x.type !== "date") return x;
    if (x.k === "lit") return { k: "lit", v: castValue(x.v, "timestamp"), type: "timestamp" };
    return { k: "cast", e: x, type: "timestamp" };
  });
}

/**
 * `d ± INTERVAL '…'` (and `INTERVAL '…' + d`): a timestamp, as in PostgreSQL. Undefined when
 * neither operand is an interval. A literal date or timestamp is folded into a literal here.
 */
function intervalArithmetic(op: string, e: Ast, b: (x: Ast) => Expr): Expr | undefined {
  const isInterval = (x: Ast) => x?.type === "interval";
  if (!isInterval(e.left) && !isInterval(e.right)) return undefined;
  if (isInterval(e.left) && isInterval(e.right))
    throw unsupported("arithmetic between two intervals is not supported");
  if (isInterval(e.left) && op !== "+")
    throw badRequest(`type mismatch: operator does not exist: interval ${op} …`);
  if (op !== "+" && op !== "-")
    throw unsupported(`interval arithmetic with ${op} is not supported; use + or -`);
  const [intervalAst, otherAst] = isInterval(e.left) ? [e.left, e.right] : [e.right, e.left];
  let interval = intervalOf(intervalAst, b);
  if (op === "-") interval = negateInterval(interval);
  const x = b(otherAst);
  if (x.type !== "date" && x.type !== "timestamp" && x.type !== "null")
    throw badRequest(`type mismatch: operator does not exist: ${x.type} ${op} interval`);
  if (x.k === "lit") {
    return {
      k: "lit",
      v: x.v === null ? null : addToTimestamp(x.v, interval),
      type: "timestamp",
    };
  }
  return {
    k: "fn",
    name: "add_interval",
    args: [
      x,
      { k: "lit", v: interval.months, type: "integer" },
      { k: "lit", v: interval.days, type: "integer" },
      { k: "lit", v: interval.ns, type: "bigint" },
    ],
    type: "timestamp",
  };
}

/** An INTERVAL literal: its text (a constant or a parameter) and the unit after it, if any. */
function intervalOf(ast: Ast, b: (x: Ast) => Expr): Interval {
  const quantity = b(ast.expr);
  if (quantity.k !== "lit" || quantity.v === null)
    throw unsupported("INTERVAL with a quantity that is not a constant is not supported");
  return parseInterval(String(quantity.v), ast.unit ? String(ast.unit) : undefined);
}

/**
 * `0.06 + 0.01` between decimal literals, folded into one (as PostgreSQL folds constants), so a
 * bound written as arithmetic is a bound a source can use.
 * Undefined where the operands are not both plain decimal literals or the operator is not + - *.
 */
function foldDecimal(op: string, l: Expr, r: Expr): Decimal | undefined {
  if (l.k !== "lit" || r.k !== "lit" || !["+", "-", "*"].includes(op)) return undefined;
  // Literals only: a number, not text that reads as one.
  const a = typeof l.v === "string" ? undefined : toDecimal(l.v);
  const b = typeof r.v === "string" ? undefined : toDecimal(r.v);
  if (!a || !b) return undefined;
  return op === "*" ? a.multiply(b) : op === "+" ? a.add(b) : a.subtract(b);
}

/** `date ± integer` is a date, `date - date` the days between; other date arithmetic is refused. */
function dateArithmetic(op: string, l: Expr, r: Expr): Expr {
  const refuse = () =>
    unsupported(`arithmetic on dates and timestamps (${l.type} ${op} ${r.type}) is not supported`);
  if (op === "-" && l.type === "date" && r.type === "date") {
    if (l.k === "lit" && r.k === "lit")
      return { k: "lit", v: daysBetween(l.v, r.v), type: "integer" };
    return { k: "fn", name: "days_between", args: [l, r], type: "integer" };
  }
  const [date, days] = l.type === "date" ? [l, r] : [r, l];
  if (date.type !== "date" || !isIntegerType(days.type) || (op === "-" && date !== l))
    throw refuse();
  if (op !== "+" && op !== "-") throw refuse();
  const signed: Expr = op === "-" ? { k: "neg", e: days, type: days.type } : days;
  if (date.k === "lit" && days.k === "lit") {
    const n = Number(days.v) * (op === "-" ? -1 : 1);
    const v =
      date.v === null || days.v === null ? null : addToDate(date.v, { months: 0, days: n, ns: 0n });
    return { k: "lit", v, type: "date" };
  }
  return { k: "fn", name: "add_days", args: [date, signed], type: "date" };
}

function bindExpr(e: Ast, scope: Scope, env: Env, opts: BindOptions): Expr {
  const b = (x: Ast, o: BindOptions = opts) => bindExpr(x, scope, env, o);
  if (e == null) return { k: "lit", v: null, type: "null" };
  if (e.collate) throw unsupported("COLLATE is not supported");
  switch (e.type) {
    case KEY_LIST:
      return { k: "inSub", keys: [b(e.expr)], sub: e.sub, not: false, type: "boolean" };
    case "column_ref": {
      if (e.array_index) throw unsupported("array subscripts are not supported");
      // `c AT TIME ZONE 'UTC'` reads as the column with options.
      const option = e.options?.value?.[0]?.value;
      if (option) throw unsupported(`${String(option).toUpperCase()} is not supported`);
      const name = nameOf(e.column);
      if (name === "*") throw badRequest("* is only allowed in the select list or COUNT(*)");
      return resolveColumn(scope, qualifierOf(e), name);
    }
    case "number":
      return numberLiteral(e.value);
    case "bigint":
      return numberLiteral(e.value);
    case "single_quote_string":
    case "string":
    case "natural_string":
      return { k: "lit", v: String(e.value).replaceAll("''", "'"), type: "text" };
    case "bool":
    case "boolean":
      return { k: "lit", v: Boolean(e.value), type: "boolean" };
    case "null":
      return { k: "lit", v: null, type: "null" };
    case "date":
      return { k: "lit", v: castValue(e.value, "date"), type: "date" };
    case "timestamp":
    case "datetime":
      return { k: "lit", v: castValue(e.value, "timestamp"), type: "timestamp" };
    case "var":
      if (e.prefix === "$") return literalOf(paramValue(e, env));
      if (e.prefix === "$$") throw unsupported("dollar-quoted strings ($$…$$) are not supported");
      throw unsupported(`variables (${e.prefix ?? ""}${e.name}) are not supported; use $1, $2, …`);
    case "param":
      throw unsupported(`named parameters (:${e.value}) are not supported; use $1, $2, …`);
    case "double_quote_string":
      return resolveColumn(scope, undefined, String(e.value));
    case "unary_expr": {
      const unary = String(e.operator).toUpperCase();
      if (unary === "NOT EXISTS" || unary === "EXISTS") {
        const sub = e.expr?.ast;
        if (!sub) throw badRequest("EXISTS needs a subquery");
        return bindExists(sub, scope, env, unary === "NOT EXISTS", opts.clause);
      }
      const x = b(e.expr);
      if (e.operator === "NOT") {
        requireBoolean(x, "NOT");
        return { k: "not", e: x, type: "boolean" };
      }
      if (e.operator === "-") {
        if (x.k === "lit" && typeof x.v === "number") return { ...x, v: -x.v };
        if (x.k === "lit" && typeof x.v === "bigint") return { ...x, v: -x.v };
        if (x.k === "lit" && x.v instanceof Decimal) return { ...x, v: x.v.negate() };
        if (!isNumericType(x.type) && x.type !== "null")
          throw badRequest(`type mismatch: operator does not exist: - ${x.type}`);
        return { k: "neg", e: x, type: x.type };
      }
      if (e.operator === "+") return x;
      throw unsupported(`operator ${e.operator} is not supported`);
    }
    case "binary_expr":
      return bindBinary(e, scope, env, opts);
    case "expr_list":
      if (Array.isArray(e.value) && e.value.length === 1) return b(e.value[0]);
      throw unsupported("row values such as (a, b) are not supported");
    case "case": {
      const operand = e.expr ? b(e.expr) : undefined;
      const whens: [Expr, Expr][] = [];
      let otherwise: Expr | undefined;
      for (const a of e.args) {
        if (a.type === "when") {
          let cond = b(a.cond);
          if (operand) cond = coerce(cond, operand.type);
          else requireBoolean(cond, "CASE/WHEN");
          whens.push([cond, b(a.result)]);
        } else otherwise = b(a.result);
      }
      let type: SqlType = "null";
      for (const r of [...whens.map((w) => w[1]), ...(otherwise ? [otherwise] : [])]) {
        if (!typesCompatible(type, r.type))
          throw badRequest(`CASE types ${type} and ${r.type} cannot be matched`);
        type = unify(type, r.type);
      }
      const c: Extract<Expr, { k: "case" }> = { k: "case", whens, type };
      if (operand) c.operand = operand;
      if (otherwise) c.else = otherwise;
      return c;
    }
    case "cast": {
      const target = e.target?.[0] ?? e.target;
      const name = String(target?.dataType ?? "").toLowerCase();
      if (target?.array) throw unsupported(`CAST to an array type (${name}[]) is not supported`);
      const type = castType(name);
      const typmod = type === "decimal" ? numericTypmod(target) : undefined;
      const x = b(e.expr);
      if (x.k === "lit") {
        const v = typmod ? castToNumeric(x.v as Value, typmod) : castValue(x.v as Value, type);
        return { k: "lit", v, type };
      }
      return typmod ? { k: "cast", e: x, type, typmod } : { k: "cast", e: x, type };
    }
    case "extract": {
      const field = dateField(String(e.args?.field ?? ""));
      // The parser drops the keyword of `EXTRACT(year FROM DATE '…')`: its text is the value.
      let x = b(e.args?.source);
      if (x.k === "lit" && x.type === "text")
        x = { k: "lit", v: castValue(x.v, "timestamp"), type: "timestamp" };
      requireDateTime(x, "EXTRACT");
      if (x.type === "date" && (field === "hour" || field === "minute" || field === "second"))
        throw badRequest(`unit "${field}" not supported for type date`);
      return {
        k: "fn",
        name: "extract",
        args: [{ k: "lit", v: field, type: "text" }, x],
        // A numeric since PostgreSQL 14 (date_part stays a double).
        type: "decimal",
      };
    }
    case "aggr_func":
      if (e.over) return bindWindowCall(e, scope, env, opts);
      return bindAggregate(e, scope, env, opts);
    case "window_func":
      return bindWindowCall(e, scope, env, opts);
    case "function":
      return bindFunction(e, scope, env, opts);
    default:
      if (e.ast) return bindScalarSubquery(e.ast, scope, env, opts.clause);
      throw unsupportedExpression(e);
  }
}

/** AST node types the parser reads and the engine has no evaluation for, by their SQL name. */
const UNSUPPORTED_EXPRESSIONS: Record<string, string> = {
  interval: "INTERVAL outside date and timestamp arithmetic",
  array: "ARRAY[…]",
  time: "the TIME type",
};

function unsupportedExpression(e: Ast): EntenteError {
  if (e.type === "default" && /^e'/i.test(String(e.value))) {
    return unsupported("escape string literals (E'…') are not supported");
  }
  const named = UNSUPPORTED_EXPRESSIONS[String(e.type)];
  return unsupported(`${named ?? `expression of type ${e.type}`} is not supported`);
}

/** The precision and scale of `numeric(p, s)` (`numeric(p)` is scale 0); none for bare numeric. */
function numericTypmod(target: Ast): NumericTypmod | undefined {
  const precision = target?.length;
  if (precision === undefined || precision === null) return undefined;
  const scale = target?.scale ?? 0;
  if (!Number.isInteger(precision) || precision < 1 || precision > 1000)
    throw badRequest(`NUMERIC precision ${precision} must be between 1 and 1000`);
  if (!Number.isInteger(scale) || scale < 0 || scale > precision)
    throw unsupported(
      `NUMERIC scale ${scale} outside 0 to the precision ${precision} is not supported`,
    );
  return { precision, scale };
}

function castType(t: string): SqlType {
  if (["int", "integer", "int4", "smallint", "int2", "signed"].includes(t)) return "integer";
  if (["bigint", "int8"].includes(t)) return "bigint";
  if (["double", "double precision", "float", "float8", "real", "float4"].includes(t))
    return "double";
  if (["numeric", "decimal"].includes(t)) return "decimal";
  if (["text", "varchar", "char", "character varying", "character", "string"].includes(t))
    return "text";
  if (["bool", "boolean"].includes(t)) return "boolean";
  if (t === "date") return "date";
  if (t.startsWith("timestamp") || t === "datetime") return "timestamp";
  throw unsupported(`CAST to ${t || "this type"} is not supported`);
}

function bindBinary(e: Ast, scope: Scope, env: Env, opts: BindOptions): Expr {
  const b = (x: Ast) => bindExpr(x, scope, env, opts);
  const op = String(e.operator).toUpperCase();
  switch (op) {
    case "AND":
    case "OR": {
      const l = b(e.left);
      const r = b(e.right);
      requireBoolean(l, op);
      requireBoolean(r, op);
      const args = [l, r].flatMap((x) =>
        x.k === op.toLowerCase() ? (x as { args: Expr[] }).args : [x],
      );
      return { k: op === "AND" ? "and" : "or", args, type: "boolean" };
    }
    case "=":
    case "<>":
    case "!=":
    case "<":
    case "<=":
    case ">":
    case ">=":
      return comparison(op === "!=" ? "<>" : (op as "="), b(e.left), b(e.right));
    case "+":
    case "-":
    case "*":
    case "/":
    case "%": {
      const withInterval = intervalArithmetic(op, e, b);
      if (withInterval) return withInterval;
      let l = b(e.left);
      let r = b(e.right);
      l = coerce(l, r.type);
      r = coerce(r, l.type);
      if ([l, r].some((x) => x.type === "date" || x.type === "timestamp")) {
        return dateArithmetic(op, l, r);
      }
      for (const x of [l, r]) {
        if (!isNumericType(x.type) && x.type !== "null") {
          throw badRequest(`type mismatch: operator does not exist: ${l.type} ${op} ${r.type}`);
        }
      }
      let type = unify(l.type, r.type);
      if (type === "null") type = "integer";
      if (isIntegerType(type) && l.type !== r.type) type = "bigint";
      const folded = type === "decimal" ? foldDecimal(op, l, r) : undefined;
      if (folded !== undefined) return { k: "lit", v: folded, type };
      return { k: "arith", op: op as "+", l, r, type };
    }
    case "||": {
      const l = b(e.left);
      const r = b(e.right);
      return { k: "concat", l, r, type: "text" };
    }
    case "IS":
    case "IS NOT": {
      const l = b(e.left);
      if (e.right?.type === "null")
        return { k: "isnull", e: l, not: op === "IS NOT", type: "boolean" };
      if (e.right?.type === "bool") {
        const cmp = comparison("=", l, { k: "lit", v: Boolean(e.right.value), type: "boolean" });
        const t: Expr = {
          k: "and",
          args: [{ k: "isnull", e: l, not: true, type: "boolean" }, cmp],
          type: "boolean",
        };
        return op === "IS"
          ? t
          : {
              k: "or",
              args: [
                { k: "isnull", e: l, not: false, type: "boolean" },
                { k: "not", e: cmp, type: "boolean" },
              ],
              type: "boolean",
            };
      }
      throw unsupported(`${op} ${isPredicateName(e.right)} is not supported`);
    }
    case "IS DISTINCT FROM":
    case "IS NOT DISTINCT FROM": {
      const l = b(e.left);
      const r = b(e.right);
      const differ = comparison("<>", l, r);
      const isNull = (x: Expr, not: boolean): Expr => ({ k: "isnull", e: x, not, type: "boolean" });
      const all = (...args: Expr[]): Expr => ({ k: "and", args, type: "boolean" });
      // NULL is a value here: two NULLs are not distinct, a NULL and a value are; never NULL.
      const distinct: Expr = {
        k: "or",
        args: [
          all(differ, isNull(l, true), isNull(r, true)),
          all(isNull(l, false), isNull(r, true)),
          all(isNull(l, true), isNull(r, false)),
        ],
        type: "boolean",
      };
      return op === "IS DISTINCT FROM" ? distinct : { k: "not", e: distinct, type: "boolean" };
    }
    case "IN":
    case "NOT IN": {
      const not = op === "NOT IN";
      const values: Ast[] = e.right?.value ?? [];
      const sub = values.length === 1 && values[0]?.ast ? values[0].ast : e.right?.ast;
      const leftList: Ast[] = e.left?.type === "expr_list" ? e.left.value : [e.left];
      const keys = leftList.map((x) => b(x));
      if (sub) return bindInSubquery(keys, sub, not, scope, env);
      if (keys.length !== 1) throw unsupported("row value IN lists are not supported");
      const l = keys[0] as Expr;
      const list = values.map((v) => {
        const x = coerce(b(v), l.type);
        if (!typesCompatible(l.type, x.type))
          throw badRequest(`type mismatch: ${l.type} IN list has ${x.type}`);
        return x;
      });
      return { k: "in", e: l, list, not, type: "boolean" };
    }
    case "BETWEEN":
    case "NOT BETWEEN": {
      const l0 = b(e.left);
      const [lo0, hi0] = e.right.value as Ast[];
      const [l, lo, hi] = alignDateTime([l0, coerce(b(lo0), l0.type), coerce(b(hi0), l0.type)]) as [
        Expr,
        Expr,
        Expr,
      ];
      for (const x of [lo, hi])
        if (!typesCompatible(l.type, x.type))
          throw badRequest(`type mismatch: ${l.type} BETWEEN ${x.type}`);
      const not = op === "NOT BETWEEN";
      if (!e.symmetric) return { k: "between", e: l, lo, hi, not, type: "boolean" };
      // SYMMETRIC: between the bounds in either order.
      const either: Expr = {
        k: "or",
        args: [
          { k: "between", e: l, lo, hi, not: false, type: "boolean" },
          { k: "between", e: l, lo: hi, hi: lo, not: false, type: "boolean" },
        ],
        type: "boolean",
      };
      return not ? { k: "not", e: either, type: "boolean" } : either;
    }
    case "LIKE":
    case "NOT LIKE":
    case "ILIKE":
    case "NOT ILIKE": {
      refuseLikeEscape(e.right?.escape);
      const l = b(e.left);
      const p = b(e.right);
      for (const x of [l, p])
        if (x.type !== "text" && x.type !== "null")
          throw badRequest(`type mismatch: operator does not exist: ${l.type} ${op} ${p.type}`);
      return {
        k: "like",
        e: l,
        pattern: p,
        not: op.startsWith("NOT"),
        ci: op.includes("ILIKE"),
        type: "boolean",
      };
    }
    default:
      throw unsupported(`operator ${op} is not supported`);
  }
}

/** The engine's LIKE escapes with a backslash, PostgreSQL's default; another ESCAPE is refused. */
function refuseLikeEscape(escapeClause: Ast): void {
  if (escapeClause && escapeClause.value?.value !== "\\") {
    throw unsupported("LIKE … ESCAPE with a character other than backslash is not supported");
  }
}

/** What follows IS in a predicate the engine does not evaluate: "UNKNOWN", "JSON", … */
function isPredicateName(right: Ast): string {
  if (right?.type === "default") return String(right.value).replace(/\s*["'`(].*$/s, "");
  if (right?.type === "column_ref") return nameOf(right.column).toUpperCase();
  if (right?.type === "function") return `${functionName(right).toUpperCase()} (…)`;
  return String(right?.value ?? right?.type ?? "").toUpperCase();
}

/** GROUPING(a, …): its arguments are matched to the GROUP BY's when aggregates are lifted. */
function bindGrouping(argAsts: Ast[], scope: Scope, env: Env, opts: BindOptions): Expr {
  if (!opts.aggregates)
    throw badRequest(
      `GROUPING is not allowed in ${opts.inAggregate ? "the argument of an aggregate" : "WHERE, ON or GROUP BY"}`,
    );
  if (argAsts.length === 0) throw badRequest("GROUPING needs at least one argument");
  const args = argAsts.map((a) =>
    bindExpr(a, scope, env, { clause: opts.clause, aggregates: false, inAggregate: true }),
  );
  return { k: "grouping", args, type: "integer" };
}

function bindAggregate(e: Ast, scope: Scope, env: Env, opts: BindOptions): Expr {
  const name = String(e.name).toLowerCase() as AggFn;
  if (!["count", "sum", "avg", "min", "max"].includes(name))
    throw unsupported(`aggregate ${name}() is not supported`);
  if (e.over) throw unsupported(`window function ${name}() OVER (…) is not supported`);
  if (e.filter) throw unsupported(`FILTER (WHERE …) on aggregate ${name}() is not supported`);
  if (!opts.aggregates)
    throw badRequest(
      `aggregate functions are not allowed in ${opts.inAggregate ? "the argument of another aggregate" : "WHERE, ON or GROUP BY"}`,
    );
  const distinct = String(e.args?.distinct ?? "").toUpperCase() === "DISTINCT";
  const argAst = e.args?.expr;
  if (name === "count" && (argAst?.type === "star" || argAst == null)) {
    return { k: "agg", fn: "count", distinct: false, type: "bigint" };
  }
  const arg = bindExpr(argAst, scope, env, {
    clause: opts.clause,
    aggregates: false,
    inAggregate: true,
  });
  return { k: "agg", fn: name, arg, distinct, type: aggregateType(name, arg) };
}

/** An aggregate's result type, as PostgreSQL's: sum(integer) is bigint, avg a decimal, … */
function aggregateType(name: AggFn, arg: Expr): SqlType {
  let type: SqlType;
  if (name === "count") type = "bigint";
  else if (name === "avg") {
    if (!isNumericType(arg.type) && arg.type !== "null")
      throw badRequest(`function avg(${arg.type}) does not exist`);
    type = arg.type === "double" ? "double" : "decimal";
  } else if (name === "sum") {
    if (!isNumericType(arg.type) && arg.type !== "null")
      throw badRequest(`function sum(${arg.type}) does not exist`);
    type = isIntegerType(arg.type)
      ? arg.type === "bigint"
        ? "decimal"
        : "bigint"
      : arg.type === "null"
        ? "bigint"
        : arg.type;
  } else type = arg.type;
  return type;
}

/** substring(s, from[, count]) by positions; PostgreSQL's pattern forms take text and are refused. */
function checkSubstring(name: string, args: Expr[]): void {
  if (args.length < 2 || args.length > 3)
    throw badRequest(`${name}() takes two or three arguments`);
  const [s, ...positions] = args as [Expr, ...Expr[]];
  if (s.type !== "text" && s.type !== "null")
    throw badRequest(`function ${name}(${s.type}, …) does not exist`);
  for (const p of positions) {
    if (p.type === "text") throw unsupported(`${name}() with a pattern (text) is not supported`);
    if (!isIntegerType(p.type) && p.type !== "null")
      throw badRequest(`function ${name}(text, ${p.type}) does not exist`);
  }
}

function requireDateTime(x: Expr, construct: string): void {
  if (x.type !== "date" && x.type !== "timestamp" && x.type !== "null")
    throw badRequest(`${construct} needs a date or timestamp, not ${x.type}`);
}

/** `date_part('field', d)` (a double, as in PostgreSQL) and `date_trunc('unit', d)` (a timestamp). */
function dateFunction(name: "date_part" | "date_trunc", args: Expr[]): Expr {
  const [what, x] = args;
  if (args.length !== 2 || !what || !x) throw badRequest(`${name}() takes two arguments`);
  if (what.k !== "lit" || typeof what.v !== "string")
    throw unsupported(`${name}() with a field that is not a text constant is not supported`);
  requireDateTime(x, `${name}()`);
  if (name === "date_part") {
    const field: Expr = { k: "lit", v: dateField(what.v), type: "text" };
    return { k: "fn", name: "date_part", args: [field, x], type: "double" };
  }
  const unit: Expr = { k: "lit", v: truncUnit(what.v), type: "text" };
  return { k: "fn", name: "date_trunc", args: [unit, x], type: "timestamp" };
}

function roundingType(args: Expr[]): SqlType {
  const type = args[0]?.type ?? "null";
  return type === "decimal" || type === "null" ? type : "double";
}

const FUNCTION_TYPES: Record<string, (args: Expr[]) => SqlType> = {
  lower: () => "text",
  upper: () => "text",
  trim: () => "text",
  substring: () => "text",
  substr: () => "text",
  concat: () => "text",
  length: () => "integer",
  char_length: () => "integer",
  abs: (a) => a[0]?.type ?? "null",
  // Of a decimal a decimal; of an integer, as of a double, a double (PostgreSQL's resolution),
  // but to a number of places an integer is rounded as a decimal: round(numeric, int).
  round: (a) => (a.length > 1 && a[0]?.type !== "double" ? "decimal" : roundingType(a)),
  floor: roundingType,
  ceil: roundingType,
  ceiling: roundingType,
  coalesce: (a) => a.reduce<SqlType>((t, x) => unify(t, x.type), "null"),
  nullif: (a) => a[0]?.type ?? "null",
  greatest: (a) => a.reduce<SqlType>((t, x) => unify(t, x.type), "null"),
  least: (a) => a.reduce<SqlType>((t, x) => unify(t, x.type), "null"),
  date_part: () => "double",
  date_trunc: () => "timestamp",
};

/**
 * PostgreSQL's built-in functions the engine does not evaluate: calling one is UNSUPPORTED, while
 * a name PostgreSQL does not know either is NOT_FOUND with the nearest supported name.
 */
const POSTGRES_FUNCTIONS = new Set(
  [
    // mathematics
    "acos acosh asin asinh atan atan2 atanh cbrt cos cosh cot degrees div exp factorial gcd lcm",
    "ln log log10 min_scale mod pi pow power radians random random_normal scale setseed sign sin",
    "sinh sqrt tan tanh trim_scale trunc width_bucket",
    // strings
    "ascii bit_length btrim chr concat_ws decode encode format initcap left lpad ltrim md5",
    "normalize octet_length overlay position quote_ident quote_literal quote_nullable",
    "regexp_count regexp_instr regexp_like regexp_match regexp_matches regexp_replace",
    "regexp_split_to_array regexp_split_to_table regexp_substr repeat replace reverse right rpad",
    "rtrim sha224 sha256 sha384 sha512 split_part starts_with string_to_array string_to_table",
    "strpos to_ascii to_hex translate unistr",
    // formatting, dates and times
    "age clock_timestamp current_date current_time current_timestamp date_add date_bin",
    "date_subtract isfinite justify_days justify_hours justify_interval",
    "localtime localtimestamp make_date make_interval make_time make_timestamp make_timestamptz",
    "now statement_timestamp timeofday timezone to_char to_date to_number to_timestamp",
    "transaction_timestamp",
    // conditionals, arrays, JSON
    "num_nonnulls num_nulls array_append array_cat array_dims array_fill array_length",
    "array_lower array_ndims array_position array_positions array_prepend array_remove",
    "array_replace array_to_string array_upper cardinality trim_array unnest generate_series",
    "generate_subscripts array_to_json json_agg json_array_elements json_array_length",
    "json_build_array json_build_object json_each json_extract_path json_extract_path_text",
    "json_object json_object_keys json_typeof jsonb_agg jsonb_array_elements jsonb_array_length",
    "jsonb_build_array jsonb_build_object jsonb_each jsonb_extract_path jsonb_extract_path_text",
    "jsonb_insert jsonb_object_keys jsonb_path_exists jsonb_path_query jsonb_pretty jsonb_set",
    "jsonb_typeof row_to_json to_json to_jsonb",
    // aggregates, window functions, grouping sets
    "any_value array_agg bit_and bit_or bit_xor bool_and bool_or corr covar_pop covar_samp every",
    "json_object_agg jsonb_object_agg mode percentile_cont percentile_disc regr_avgx regr_avgy",
    "regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy stddev stddev_pop",
    "stddev_samp string_agg var_pop var_samp variance xmlagg cume_dist dense_rank first_value lag",
    "last_value lead nth_value ntile percent_rank rank row_number cube grouping rollup",
    // the session and the system
    "current_catalog current_database current_role current_schema current_setting current_user",
    "array gen_random_uuid pg_typeof row session_user user version",
  ]
    .join(" ")
    .split(" "),
);

/** `x = ANY (…)`, `x > ALL (…)` read as calls of these. */
const QUANTIFIERS = new Set(["any", "some", "all"]);

function functionName(e: Ast): string {
  return nameOf(e.name?.name?.[0] ?? e.name).toLowerCase();
}

/** A function call the engine cannot evaluate: UNSUPPORTED for PostgreSQL's, NOT_FOUND otherwise. */
function unknownFunction(name: string): EntenteError {
  if (QUANTIFIERS.has(name)) {
    return unsupported(`${name.toUpperCase()} (…) comparisons are not supported`);
  }
  if (name === "values") return unsupported("VALUES lists are not supported");
  if (POSTGRES_FUNCTIONS.has(name)) return unsupported(`function ${name}() is not supported`);
  return notFound(`unknown function ${name}()${didYouMean(name, Object.keys(FUNCTION_TYPES))}`);
}

function bindFunction(e: Ast, scope: Scope, env: Env, opts: BindOptions): Expr {
  const name = functionName(e);
  const argAsts: Ast[] = e.args?.value ?? (e.args ? [e.args] : []);
  if (name === "exists" || name === "not exists") {
    const sub = argAsts[0]?.ast;
    if (!sub) throw badRequest("EXISTS needs a subquery");
    return bindExists(sub, scope, env, name === "not exists", opts.clause);
  }
  if (name === "not" && argAsts.length === 1) {
    const x = bindExpr(argAsts[0], scope, env, opts);
    requireBoolean(x, "NOT");
    return { k: "not", e: x, type: "boolean" };
  }
  if (e.over) return bindWindowCall(e, scope, env, opts);
  if (name === "grouping") return bindGrouping(argAsts, scope, env, opts);
  const typeOf = FUNCTION_TYPES[name];
  if (!typeOf) throw unknownFunction(name);
  // `trim(both 'x' from c)`: the BOTH/LEADING/TRAILING … FROM form.
  const origin = argAsts.find((a) => a?.type === "origin");
  if (origin) {
    throw unsupported(`${name}(${String(origin.value).toUpperCase()} … FROM …) is not supported`);
  }
  const args = argAsts.map((a) => bindExpr(a, scope, env, opts));
  if (name === "date_part" || name === "date_trunc") return dateFunction(name, args);
  if (name === "substring" || name === "substr") checkSubstring(name, args);
  if (["lower", "upper", "trim", "length", "char_length"].includes(name)) {
    if (args.length !== 1) throw badRequest(`${name}() takes one argument`);
    if (args[0]?.type !== "text" && args[0]?.type !== "null")
      throw badRequest(`function ${name}(${args[0]?.type}) does not exist`);
  }
  if (
    ["abs", "round", "floor", "ceil", "ceiling"].includes(name) &&
    !isNumericType(args[0]?.type ?? "null") &&
    args[0]?.type !== "null"
  ) {
    throw badRequest(`function ${name}(${args[0]?.type}) does not exist`);
  }
  if (["coalesce", "greatest", "least", "nullif"].includes(name)) {
    const first =
      args.find((a) => a.type !== "null" && !(a.k === "lit" && a.type === "text"))?.type ??
      args[0]?.type ??
      "null";
    for (let i = 0; i < args.length; i++) {
      args[i] = coerce(args[i] as Expr, first);
      if (!typesCompatible(first, (args[i] as Expr).type))
        throw badRequest(
          `${name.toUpperCase()} types ${first} and ${(args[i] as Expr).type} cannot be matched`,
        );
    }
  }
  return { k: "fn", name, args, type: typeOf(args) };
}

// ---------------------------------------------------------------------------------------------
// Window functions: bound into the SELECT's list of calls, read back as columns of its window node.

const RANKING = new Set(["row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile"]);
const OFFSET = new Set(["lag", "lead", "first_value", "last_value", "nth_value"]);
const WINDOW_AGGREGATES = new Set(["count", "sum", "avg", "min", "max"]);

function bindWindowCall(e: Ast, scope: Scope, env: Env, opts: BindOptions): Expr {
  const name = String(e.type === "aggr_func" ? e.name : functionName(e)).toLowerCase();
  if (!opts.windows) {
    if (opts.clause === "ORDER BY")
      throw unsupported(
        `window function ${name}() in ORDER BY is not supported; select it and order by its name or position`,
      );
    throw badRequest(`window functions are not allowed in ${opts.clause}`);
  }
  if (!RANKING.has(name) && !OFFSET.has(name) && !WINDOW_AGGREGATES.has(name))
    throw unsupported(`window function ${name}() is not supported`);
  const written = e.over?.as_window_specification;
  // `OVER w` names a specification of the WINDOW clause; `OVER (w …)` refines one.
  const named = typeof written === "string" ? written : e.over?.refines;
  const base = named === undefined ? undefined : opts.namedWindows?.get(named.toLowerCase());
  if (named !== undefined && !base) throw badRequest(`window "${named}" does not exist`);
  const spec = typeof written === "string" ? base : written;
  if (!spec?.window_specification) throw unsupported("this window specification is not supported");
  const w =
    typeof written !== "string" && base
      ? refinedWindow(base.window_specification, spec.window_specification, named as string)
      : spec.window_specification;
  // The call's own expressions see what the SELECT list sees, but no window calls.
  const inner: BindOptions = { clause: opts.clause };
  if (opts.aggregates) inner.aggregates = true;
  const b = (x: Ast) => bindExpr(x, scope, env, inner);
  let args: Expr[];
  let type: SqlType;
  if (WINDOW_AGGREGATES.has(name)) {
    if (String(e.args?.distinct ?? "").toUpperCase() === "DISTINCT")
      throw unsupported(`DISTINCT in window function ${name}() is not supported`);
    if (e.filter)
      throw unsupported(`FILTER (WHERE …) on window function ${name}() is not supported`);
    const argAst = e.args?.expr;
    if (name === "count" && (argAst?.type === "star" || argAst == null)) {
      args = [];
      type = "bigint";
    } else {
      // In a grouped query the argument may itself aggregate: sum(count(*)) OVER ().
      const arg = b(argAst);
      args = [arg];
      type = aggregateType(name as AggFn, arg);
    }
  } else {
    const argAsts: Ast[] = e.args?.value ?? (e.args ? [e.args] : []);
    args = argAsts.map(b);
    type = windowType(name, args);
  }
  const partition = (w.partitionby ?? []).map((p: Ast) => b(p.expr ?? p));
  const order = (w.orderby ?? []).map((o: Ast) => sortKey(b(o.expr), o));
  const frame = windowFrame(w.window_frame_clause, order);
  opts.windows.push({ fn: name, args, partition, order, frame, type });
  return { k: "win", w: opts.windows.length - 1, type };
}

function windowType(name: string, args: Expr[]): SqlType {
  const arity: Record<string, [number, number]> = {
    row_number: [0, 0],
    rank: [0, 0],
    dense_rank: [0, 0],
    percent_rank: [0, 0],
    cume_dist: [0, 0],
    ntile: [1, 1],
    lag: [1, 3],
    lead: [1, 3],
    first_value: [1, 1],
    last_value: [1, 1],
    nth_value: [2, 2],
  };
  const [least, most] = arity[name] ?? [0, 0];
  if (args.length < least || args.length > most)
    throw badRequest(
      `window function ${name}() takes ${least === most ? least : `${least} to ${most}`} arguments`,
    );
  for (const n of name === "ntile" ? [0] : name === "nth_value" || OFFSET.has(name) ? [1] : []) {
    const a = args[n];
    if (a && !isIntegerType(a.type) && a.type !== "null")
      throw badRequest(`argument ${n + 1} of ${name}() must be an integer, not ${a.type}`);
  }
  if (name === "row_number" || name === "rank" || name === "dense_rank") return "bigint";
  if (name === "ntile") return "integer";
  if (name === "percent_rank" || name === "cume_dist") return "double";
  const value = args[0] as Expr;
  if ((name === "lag" || name === "lead") && args[2]) {
    const fallback = coerce(args[2], value.type);
    if (!typesCompatible(value.type, fallback.type))
      throw badRequest(`${name}() default ${fallback.type} does not match ${value.type}`);
    args[2] = fallback;
    return unify(value.type, fallback.type);
  }
  return value.type;
}

/** A ROWS frame's edges; none given: RANGE to the current row's peers with ORDER BY, else all. */
function windowFrame(clause: Ast, order: SortKey[]): WindowCall["frame"] {
  if (!clause) {
    return order.length > 0
      ? { unit: "range", start: { kind: "unbounded" }, end: { kind: "current" } }
      : { unit: "rows", start: { kind: "unbounded" }, end: { kind: "unbounded" } };
  }
  const between =
    clause.type === "binary_expr" && String(clause.operator).toUpperCase() === "BETWEEN";
  // `ROWS 2 PRECEDING` is `ROWS BETWEEN 2 PRECEDING AND CURRENT ROW`.
  const unit = String(between ? clause.left?.value : clause.type).toLowerCase();
  const edges: Ast[] = between
    ? (clause.right?.value ?? [])
    : [clause.expr, { type: "origin", value: "current row" }];
  if ((unit !== "rows" && unit !== "range" && unit !== "groups") || edges.length !== 2)
    throw unsupported("this window frame is not supported; write ROWS BETWEEN … AND …");
  const start = frameBound(edges[0], unit);
  const end = frameBound(edges[1], unit);
  if (unit === "range" && (start.kind === "offset" || end.kind === "offset")) {
    const key = order[0];
    if (order.length !== 1)
      throw badRequest(
        "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
      );
    if (key && !isNumericType(key.expr.type))
      throw unsupported(
        `RANGE with offset PRECEDING/FOLLOWING over ${key.expr.type} is not supported (only over numbers)`,
      );
    // An offset written with a decimal point is numeric, which no integer column adds to.
    const fraction = [start, end].some((b) => b.kind === "offset" && b.literal.includes("."));
    if (key && isIntegerType(key.expr.type) && fraction)
      throw badRequest(
        `RANGE with offset PRECEDING/FOLLOWING is not supported for column type ${key.expr.type} and offset type numeric`,
      );
  }
  if (unit === "groups" && order.length === 0)
    throw badRequest("GROUPS mode requires an ORDER BY clause");
  // PostgreSQL's rules on which edge may come before which.
  if (start.kind === "unbounded" && edges[0] && /following/i.test(String(edges[0].value)))
    throw badRequest("frame start cannot be UNBOUNDED FOLLOWING");
  if (end.kind === "unbounded" && edges[1] && /preceding/i.test(String(edges[1].value)))
    throw badRequest("frame end cannot be UNBOUNDED PRECEDING");
  const startsFollowing = start.kind === "offset" && !start.preceding;
  const endsPreceding = end.kind === "offset" && end.preceding;
  if (start.kind === "current" && endsPreceding)
    throw badRequest("frame starting from current row cannot have preceding rows");
  if (startsFollowing && end.kind === "current")
    throw badRequest("frame starting from following row cannot end with current row");
  if (startsFollowing && endsPreceding)
    throw badRequest("frame starting from following row cannot have preceding rows");
  // EXCLUDE NO OTHERS is the default: nothing left out.
  const exclude = clause.exclude === "no others" ? undefined : clause.exclude;
  return { unit, start, end, ...(exclude ? { exclude } : {}) };
}

function frameBound(edge: Ast, unit: FrameUnit): FrameBound {
  const text = String(edge?.value ?? "")
    .trim()
    .toLowerCase();
  if (text === "current row") return { kind: "current" };
  // Which way an unbounded edge points is checked by the frame (windowFrame).
  if (/^unbounded (preceding|following)$/.test(text)) return { kind: "unbounded" };
  const m = /^(\d+(?:\.\d*)?)\s+(preceding|following)$/.exec(text);
  if (!m) throw unsupported(`window frame edge ${JSON.stringify(text)} is not supported here`);
  // ROWS and GROUPS take a bigint, and a fraction rounds to one as a cast does.
  const literal = m[1] as string;
  const by = unit === "range" ? Number(literal) : Math.round(Number(literal));
  const preceding = m[2] === "preceding";
  return { kind: "offset", by: preceding ? -by : by, preceding, literal };
}

/** The window calls' values as columns after `input`'s, and the expressions that read them. */
function windowNode(input: PlanNode, windows: WindowCall[]): PlanNode {
  return {
    kind: "window",
    input,
    windows,
    columns: [...input.columns, ...windows.map((w, i) => ({ name: `window${i}`, type: w.type }))],
    estimate: input.estimate,
  };
}

function readWindows(e: Expr, base: number): Expr {
  return mapExpr(e, (x) =>
    x.k === "win" ? { k: "col", i: base + x.w, type: x.type, name: `window${x.w}` } : undefined,
  );
}

// ---------------------------------------------------------------------------------------------
// Subqueries: run before the main plan, used as key sets.

/** The link a subquery's scope keeps to the query it stands in. */
function enclosedBy(scope: Scope, construct: string): OuterScope {
  return { scope, construct, owner: "the outer query" };
}

function bindInSubquery(keys: Expr[], sub: Ast, not: boolean, scope: Scope, env: Env): Expr {
  const node = bindSetExpression(sub, env, enclosedBy(scope, "correlated IN subquery"));
  if (node.columns.length !== keys.length) {
    throw badRequest(`subquery has ${node.columns.length} columns, IN expects ${keys.length}`);
  }
  keys.forEach((k, i) => {
    const t = (node.columns[i] as ColumnDef).type;
    if (!typesCompatible(k.type, t))
      throw badRequest(`type mismatch: ${k.type} IN (subquery of ${t})`);
  });
  env.subqueries.push(node);
  return { k: "inSub", keys, sub: env.subqueries.length - 1, not, type: "boolean" };
}

function bindScalarSubquery(sub: Ast, scope: Scope, env: Env, clause: string): Expr {
  const link = enclosedBy(scope, `correlated subquery in ${clause}`);
  const { equalities, rest } = correlatedEqualities(sub, link, env);
  if (equalities.length > 0) return bindCorrelatedScalar(sub, equalities, rest, scope, env, clause);
  const node = bindSetExpression(sub, env, link);
  if (node.columns.length !== 1) throw badRequest("subquery must return only one column");
  env.subqueries.push(node);
  return {
    k: "scalarSub",
    sub: env.subqueries.length - 1,
    type: (node.columns[0] as ColumnDef).type,
  };
}

/**
 * A scalar subquery correlated by `inner = outer` equalities runs once, before the main plan, for
 * every key at once: its rows are `(inner keys…, value)` — grouped by the keys when it
 * aggregates — and each outer row looks its value up by its outer keys. A key with no row is
 * NULL, or, for an aggregate without GROUP BY, the aggregate over no rows (`count(*)` is 0): the
 * same query with its aggregation fed no rows, so nothing is read for it. A key with two rows is an error only
 * when an outer row looks it up, as PostgreSQL's per-row evaluation would be.
 */
function bindCorrelatedScalar(
  sub: Ast,
  equalities: CorrelatedEquality[],
  rest: Ast[],
  scope: Scope,
  env: Env,
  clause: string,
): Expr {
  const construct = "correlated scalar subquery";
  if (sub._next) throw unsupported(`${construct} with a set operation is not supported`);
  if (sub.orderby || sub.limit?.value?.length || sub.distinct?.type)
    throw unsupported(`${construct} with ORDER BY, LIMIT or DISTINCT is not supported`);
  const items: Ast[] = Array.isArray(sub.columns) ? sub.columns : [];
  const item = items[0];
  if (items.length !== 1 || item?.expr?.column === "*" || item?.expr?.type === "star")
    throw badRequest("subquery must return only one column");
  // Run once for every key, a window would see the rows of all keys, not the outer row's.
  if (containsWindow(item.expr))
    throw unsupported(`${construct} with a window function is not supported`);
  const groups = groupByItems(sub);
  // A HAVING over the whole of a key's rows would turn a failed condition into "no rows".
  if (groups.length === 0 && sub.having != null)
    throw unsupported(`${construct} with HAVING and no GROUP BY is not supported`);
  const aggregates = groups.length > 0 || sub.having != null || containsAggregate(item.expr);
  const link = enclosedBy(
    scope,
    `${construct} in ${clause} with a condition other than \`inner = outer\``,
  );
  const innerKeys = equalities.map((q) => ({ expr: q.inner, as: null }));
  const keyed = {
    ...sub,
    where: conjunction(rest),
    columns: [...innerKeys, item],
    ...(aggregates ? { groupby: { columns: [...groups, ...equalities.map((q) => q.inner)] } } : {}),
  };
  const keys = equalities.map((q) => bindExpr(q.outer, scope, env, { clause }));
  const before = env.subqueries.length;
  const node = bindSetExpression(keyed, env, link);
  node.columns.slice(0, keys.length).forEach((c, i) => {
    const k = keys[i] as Expr;
    if (!typesCompatible(k.type, c.type))
      throw badRequest(`type mismatch: ${k.type} = ${c.type} in a ${construct}`);
  });
  const own = env.subqueries.length === before;
  env.subqueries.push(node);
  const keyedIndex = env.subqueries.length - 1;
  const reduce = own
    ? bindReduction(keyed, (equalities[0] as CorrelatedEquality).inner, node, keys[0], env, link)
    : undefined;
  let empty: number | undefined;
  if (aggregates && groups.length === 0) {
    const whole = bindSetExpression({ ...sub, where: conjunction(rest) }, env, link);
    env.subqueries.push(overNoRows(whole));
    empty = env.subqueries.length - 1;
  }
  const type = (node.columns[keys.length] as ColumnDef).type;
  return {
    k: "scalarSub",
    sub: keyedIndex,
    keys,
    ...(empty !== undefined ? { empty } : {}),
    ...(reduce ? { reduce } : {}),
    type,
  };
}

/** The AST of `inner IN (key list)`, which only bindReduction writes. */
const KEY_LIST = "entente_key_list";

/**
 * The decorrelated subquery `keyed` once more, its first inner key restricted to a key list
 * (plan.ts `Reduction`), so that it can run for the outer rows' keys only. None where the
 * restriction could not reach the subquery's scans or could compare differently: an inner key
 * that is not a plain column, or of another type than the outer key (the list holds outer
 * values), or a subquery that reads subqueries of its own.
 */
function bindReduction(
  keyed: Ast,
  innerKey: Ast,
  node: PlanNode,
  outerKey: Expr | undefined,
  env: Env,
  link: OuterScope,
): Reduction | undefined {
  const innerType = node.columns[0]?.type;
  if (innerKey?.type !== "column_ref" || !outerKey || !innerType) return undefined;
  const sameKind =
    innerType === outerKey.type || (isIntegerType(innerType) && isIntegerType(outerKey.type));
  if (!sameKind) return undefined;
  const keyList = env.subqueries.length;
  env.subqueries.push({
    kind: "values",
    rows: [],
    columns: [{ name: "key", type: outerKey.type }],
    estimate: 0,
  });
  const restriction = { type: KEY_LIST, sub: keyList, expr: innerKey };
  const where = conjunction([...astConjuncts(keyed.where), restriction]);
  const reduced = bindSetExpression({ ...keyed, where }, env, link);
  if (env.subqueries.length !== keyList + 1) {
    env.subqueries.length = keyList;
    return undefined;
  }
  env.subqueries.push(reduced);
  return { plan: keyList + 1, keyList };
}

/** The plan with its aggregation's input replaced by no rows: what the query gives for none. */
function overNoRows(node: PlanNode): PlanNode {
  if (node.kind === "aggregate") {
    const none: PlanNode = { kind: "values", rows: [], columns: node.input.columns, estimate: 0 };
    return { ...node, input: none };
  }
  if ("input" in node) return { ...node, input: overNoRows(node.input) } as PlanNode;
  throw new Error(`no aggregation under ${node.kind}`);
}

// ---------------------------------------------------------------------------------------------
// EXISTS

const EXISTS_CORRELATION =
  "correlated EXISTS subquery with a condition other than `inner <op> outer` comparisons in its WHERE";

/**
 * EXISTS runs once, before the main plan. Correlated by equalities `inner = outer` among its
 * WHERE's conjuncts, it projects the distinct inner sides and the outer sides become the keys
 * looked up in them; any other reference to the outer query is refused.
 */
function bindExists(sub: Ast, outerScope: Scope, env: Env, not: boolean, clause: string): Expr {
  const link = enclosedBy(outerScope, EXISTS_CORRELATION);
  const { equalities, comparisons, rest: all } = correlatedEqualities(sub, link, env);
  const rest = all.filter((c) => !comparisons.some((q) => q.ast === c));
  if (equalities.length === 0 && comparisons.length === 0) {
    env.subqueries.push(bindExistenceProbe(sub, env, link));
    return { k: "exists", keys: [], sub: env.subqueries.length - 1, not, type: "boolean" };
  }
  const beyond = rowsBeyondFromAndWhere(sub, env);
  if (beyond)
    throw unsupported(`correlated EXISTS over a subquery with ${beyond} is not supported`);
  const correlated = [...equalities, ...comparisons];
  const keys = correlated.map((q) => bindExpr(q.outer, outerScope, env, { clause }));
  // One comparison is decided by the extremes of its inner side in each group of equal keys:
  // the key set is grouped, one row per group, instead of made distinct (see plan.ts).
  const single = comparisons.length === 1 ? (comparisons[0] as CorrelatedEquality) : undefined;
  const keySet = {
    ...sub,
    where: conjunction(rest),
    columns: single
      ? [
          ...equalities.map((q) => ({ expr: q.inner, as: null })),
          { expr: aggregateAst("MIN", single.inner), as: null },
          { expr: aggregateAst("MAX", single.inner), as: null },
        ]
      : correlated.map((q) => ({ expr: q.inner, as: null })),
    distinct: single ? null : { type: "DISTINCT" },
    groupby: single && equalities.length > 0 ? { columns: equalities.map((q) => q.inner) } : null,
    having: null,
    orderby: null,
    limit: null,
    _limit: null,
  };
  // Binding again (below) drops what the first binding added: its subqueries would run unread.
  const subqueriesBefore = env.subqueries.length;
  let node = bindSetExpression(keySet, env, link);
  // The key each column of the key set meets: the extremes' both meet the compared one.
  const keyOfColumn = (i: number) => keys[Math.min(i, keys.length - 1)] as Expr;
  // A date meets a timestamp as its midnight: both sides become timestamps, the inner one by a
  // CAST in the key set (bound again with it).
  const mixed = node.columns.map((c, i) => {
    const pair = [c.type, keyOfColumn(i).type];
    return pair.includes("date") && pair.includes("timestamp");
  });
  if (mixed.some(Boolean)) {
    keySet.columns = keySet.columns.map((item: Ast, i: number) =>
      mixed[i] && node.columns[i]?.type === "date"
        ? { expr: { type: "cast", expr: item.expr, target: [{ dataType: "TIMESTAMP" }] }, as: null }
        : item,
    );
    env.subqueries.length = subqueriesBefore;
    node = bindSetExpression(keySet, env, link);
    keys.forEach((k, i) => {
      if (!mixed[i] || k.type !== "date") return;
      keys[i] =
        k.k === "lit"
          ? { k: "lit", v: castValue(k.v, "timestamp"), type: "timestamp" }
          : { k: "cast", e: k, type: "timestamp" };
    });
  }
  node.columns.forEach((c, i) => {
    const k = keyOfColumn(i);
    const q = correlated[Math.min(i, correlated.length - 1)] as CorrelatedEquality;
    if (!typesCompatible(k.type, c.type))
      throw badRequest(`type mismatch: ${c.type} ${q.op ?? "="} ${k.type} in EXISTS`);
  });
  const own = env.subqueries.length === subqueriesBefore;
  env.subqueries.push(node);
  const exists: Extract<Expr, { k: "exists" }> = {
    k: "exists",
    keys,
    sub: env.subqueries.length - 1,
    not,
    type: "boolean",
  };
  if (comparisons.length > 0) exists.compare = comparisons.map((q) => q.op as CompareOp);
  const first = equalities[0];
  const reduce =
    own && first && !mixed.some(Boolean)
      ? bindReduction(keySet, first.inner, node, keys[0], env, link)
      : undefined;
  if (reduce) exists.reduce = reduce;
  return exists;
}

/** `name(arg)` as the parser writes an aggregate call. */
function aggregateAst(name: string, arg: Ast): Ast {
  return { type: "aggr_func", name, args: { expr: arg }, over: null };
}

/**
 * An uncorrelated EXISTS: whether its query has a row at all. When only its FROM and WHERE decide
 * that, the select list is dropped; either way one row is enough.
 */
function bindExistenceProbe(sub: Ast, env: Env, link: OuterScope): PlanNode {
  if (!rowsBeyondFromAndWhere(sub, env)) {
    const one = { seperator: "", value: [{ type: "number", value: 1 }] };
    const probe = { ...sub, columns: [{ expr: { type: "number", value: 1 }, as: null }] };
    const probeOnce = { ...probe, distinct: null, orderby: null, limit: one, _limit: null };
    return bindSetExpression(probeOnce, env, link);
  }
  const node = bindSetExpression(sub, env, link);
  return { kind: "limit", input: node, limit: 1, offset: 0, columns: node.columns, estimate: 1 };
}

/** What, besides its FROM and WHERE, decides whether a subquery has rows; undefined if nothing. */
function rowsBeyondFromAndWhere(sub: Ast, env: Env): string | undefined {
  if (sub._next) return "a set operation";
  if (groupByItems(sub).length > 0 || sub.having) return "GROUP BY or HAVING";
  const items: Ast[] = Array.isArray(sub.columns) ? sub.columns : [];
  if (items.some((c) => containsAggregate(c.expr))) return "an aggregate";
  const { limit, offset } = limitOf(sub, env);
  if (offset > 0 || limit === 0) return "LIMIT or OFFSET";
  return undefined;
}

interface CorrelatedEquality {
  outer: Ast;
  inner: Ast;
  /** For a comparison other than `=`: the operator, read as `inner <op> outer`. */
  op?: CompareOp;
  /** The conjunct it came from. */
  ast?: Ast;
}

const FLIPPED: Record<string, CompareOp> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=" };

/**
 * The WHERE conjuncts `inner = outer` (the outer side reading only enclosing queries), those
 * comparing inner with outer by another operator (`inner <> outer`, `<`, …; also in `rest`),
 * and the rest.
 */
function correlatedEqualities(
  sub: Ast,
  link: OuterScope,
  env: Env,
): { equalities: CorrelatedEquality[]; comparisons: CorrelatedEquality[]; rest: Ast[] } {
  const inner = innerScopeOf(sub, link, env);
  const equalities: CorrelatedEquality[] = [];
  const comparisons: CorrelatedEquality[] = [];
  const rest: Ast[] = [];
  for (const c of astConjuncts(sub.where)) {
    const op = c.type === "binary_expr" ? String(c.operator) : "";
    const compares = ["=", "<>", "!=", "<", "<=", ">", ">="].includes(op);
    const left = compares ? reachOf(c.left, inner) : "mixed";
    const right = compares ? reachOf(c.right, inner) : "mixed";
    let found: CorrelatedEquality | undefined;
    if (left === "outer" && right === "inner")
      found = { outer: c.left, inner: c.right, op: FLIPPED[op] ?? (op as CompareOp) };
    else if (right === "outer" && left === "inner")
      found = { outer: c.right, inner: c.left, op: op as CompareOp };
    if (found && op === "=") equalities.push({ outer: found.outer, inner: found.inner });
    else {
      if (found) comparisons.push({ ...found, op: op === "!=" ? "<>" : found.op, ast: c });
      rest.push(c);
    }
  }
  return { equalities, comparisons, rest };
}

/**
 * The scope of the subquery's own FROM, bound apart (its plan is dropped) to tell its columns from
 * the outer query's the way the real binding will.
 */
function innerScopeOf(sub: Ast, link: OuterScope, env: Env): Scope {
  registerCtes(sub.with, env, link);
  const rels = bindFromClause(sub.from ?? [], { ...env, subqueries: [] }, link);
  return { columns: scopeColumnsOf(rels), outer: link };
}

/**
 * Which queries an expression reads: only enclosing ones ("outer"), none of them ("inner", which
 * includes constants), or both or something that cannot be a key (a subquery, an aggregate).
 */
function reachOf(x: Ast, inner: Scope): "inner" | "outer" | "mixed" {
  const refs = columnRefsOf(x);
  if (!refs) return "mixed";
  const outer = refs.filter(
    (r) => !lookup(inner, r.table, r.name) && enclosingReference(inner, r.table, r.name),
  );
  if (outer.length === 0) return "inner";
  return outer.length === refs.length ? "outer" : "mixed";
}

/** The column references of an expression's AST; undefined when it holds a subquery or aggregate. */
function columnRefsOf(x: Ast): { table: string | undefined; name: string }[] | undefined {
  if (!x || typeof x !== "object") return [];
  if (Array.isArray(x)) {
    const parts = x.map(columnRefsOf);
    return parts.every((p) => p !== undefined) ? parts.flat() : undefined;
  }
  if (x.ast || x.type === "aggr_func") return undefined;
  if (x.type === "column_ref") {
    return [{ table: qualifierOf(x), name: nameOf(x.column) }];
  }
  if (x.type === "double_quote_string") return [{ table: undefined, name: String(x.value) }];
  return columnRefsOf(Object.values(x));
}

function astConjuncts(x: Ast): Ast[] {
  if (!x) return [];
  if (x.type === "binary_expr" && String(x.operator).toUpperCase() === "AND") {
    return [...astConjuncts(x.left), ...astConjuncts(x.right)];
  }
  return [x];
}

function conjunction(parts: Ast[]): Ast {
  return parts.reduce<Ast>(
    (acc, c) => (acc ? { type: "binary_expr", operator: "AND", left: acc, right: c } : c),
    null,
  );
}
