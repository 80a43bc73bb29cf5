/**
 * Whole-subtree pushdown: when every table under a join (or the whole statement) lives in one
 * source and every operation is one the source computes exactly as the engine does, the subtree
 * becomes one statement for that source. Each operator renders as a derived table whose columns
 * are named by position (c0, c1, …), so names never clash.
 */
import { slotsOf } from "./bind.ts";
import type { Catalog } from "./catalog.ts";
import type { AggCall, Expr, LogicalRead, PlanNode, RemoteNode, SortKey } from "./plan.ts";
import {
  canPush,
  canPushAggregate,
  canPushGroupingSets,
  canPushGroupKey,
  canPushOrder,
} from "./pushdown.ts";
import {
  type ColumnText,
  type ColumnUse,
  columnSql,
  groupByList,
  groupingSetsList,
  ParamList,
  printedFloat,
  qualifiedName,
  renderExpr,
  renderKey,
  uuidAsStored,
} from "./render.ts";
import { aggregateSql } from "./scan-sql.ts";
import type { SourceInfo } from "./types.ts";

interface Block {
  sql: string;
  /** Output column positions the block actually produces. */
  available: Set<number>;
  /** Output positions holding a column as stored that other uses must name otherwise. */
  stored: Map<number, StoredKind>;
}

/**
 * `uuid`: compared with another uuid by index in a join, and as stored where `columnSql` names a
 * uuid so, else as its text. `float`: a DuckDB 32-bit float, which no expression there gives as
 * the number the engine reads (`printedFloat`): passed on, sorted, grouped and tested for NULL
 * as stored, and nothing computed with it is sent.
 */
type StoredKind = "uuid" | "float";

class NotPushable extends Error {}

/** A DuckDB float (`StoredKind`) used as `use` says: as stored where that answers alike. */
function storedFloat(name: string, use: ColumnUse | undefined): string {
  if (use === "key" || use?.length === 0) return name;
  throw new NotPushable();
}

/** The single source every scan of the subtree reads, or undefined. */
export function soleSource(node: PlanNode): string | undefined {
  const sources = new Set<string>();
  let other = false;
  const walk = (n: PlanNode): void => {
    switch (n.kind) {
      case "scan":
        sources.add(n.table.source);
        return;
      case "remote":
        sources.add(n.source);
        other = true;
        return;
      case "values":
        other = true;
        return;
      case "join":
        walk(n.left);
        walk(n.right);
        return;
      case "union":
      case "setop":
        for (const i of n.inputs) walk(i);
        return;
      default:
        walk(n.input);
    }
  };
  walk(node);
  return !other && sources.size === 1 ? [...sources][0] : undefined;
}

/** The subtree as one statement for its source, or undefined when some part must run here. */
export function toRemote(
  node: PlanNode,
  catalog: Catalog,
  describes: string,
): RemoteNode | undefined {
  const name = soleSource(node);
  if (name === undefined) return undefined;
  const source = catalog.source(name);
  if (!source.capabilities.filters || !source.capabilities.joins) return undefined;
  const params = new ParamList(source.dialect);
  const r = new Renderer(source, params);
  try {
    let top = node;
    // ORDER BY / LIMIT belong on the outermost block, with hidden sort columns trimmed there.
    let trim: number | undefined;
    if (top.kind === "project" && top.exprs.every((e, i) => e.k === "col" && e.i === i)) {
      trim = top.exprs.length;
      top = top.input;
    }
    let limit: Extract<PlanNode, { kind: "limit" }> | undefined;
    if (top.kind === "limit") {
      limit = top;
      top = top.input;
    }
    let sort: SortKey[] | undefined;
    if (top.kind === "sort") {
      sort = top.keys;
      if (
        !canPushOrder(
          sort.map((k) => k.expr.type),
          source,
        )
      )
        return undefined;
      top = top.input;
    }
    if (trim === undefined && !limit && !sort) {
      const block = r.block(node);
      return remote(block.sql, [...block.available]);
    }
    const inner = r.block(top);
    const width = trim ?? top.columns.length;
    const t = r.alias();
    const cols = Array.from({ length: width }, (_, i) => `${t}.${r.c(i)} AS ${r.c(i)}`);
    let sql = `SELECT ${cols.join(", ")} FROM (${inner.sql}) ${t}`;
    if (sort) {
      const col = r.slotText(t, inner.stored);
      sql += ` ORDER BY ${sort
        .map(
          (k) =>
            `${r.key(k.expr, col)}${k.desc ? " DESC" : " ASC"} NULLS ${k.nullsFirst ? "FIRST" : "LAST"}`,
        )
        .join(", ")}`;
    }
    if (limit) {
      if (!source.capabilities.limit) return undefined;
      if (limit.limit !== undefined) sql += ` LIMIT ${Math.trunc(limit.limit)}`;
      else if (limit.offset > 0) return undefined;
      if (limit.offset > 0) sql += ` OFFSET ${Math.trunc(limit.offset)}`;
    }
    return remote(
      sql,
      Array.from({ length: width }, (_, i) => i),
    );
  } catch (err) {
    if (err instanceof NotPushable) return undefined;
    throw err;
  }

  function remote(sql: string, positions: number[]): RemoteNode {
    const logical = logicalReads(node);
    return {
      kind: "remote",
      source: source.name,
      statement: params.statement(sql),
      columns: node.columns,
      positions,
      describes,
      ...(logical.length > 0 ? { logical } : {}),
      estimate: node.estimate,
    };
  }
}

/** The logical tables a subtree reads, with their members, so EXPLAIN still shows them. */
function logicalReads(node: PlanNode): LogicalRead[] {
  const out: LogicalRead[] = [];
  const walk = (n: PlanNode): void => {
    switch (n.kind) {
      case "scan":
      case "remote":
      case "values":
        return;
      case "join":
        walk(n.left);
        walk(n.right);
        return;
      case "union":
        if (n.shards) out.push({ ...(n.note ? { note: n.note } : {}), ...n.shards });
        for (const i of n.inputs) walk(i);
        return;
      case "setop":
        for (const i of n.inputs) walk(i);
        return;
      default:
        walk(n.input);
    }
  };
  walk(node);
  return out;
}

class Renderer {
  private n = 0;
  readonly source: SourceInfo;
  readonly params: ParamList;
  constructor(source: SourceInfo, params: ParamList) {
    this.source = source;
    this.params = params;
  }
  alias(): string {
    return this.source.dialect.quoteIdentifier(`t${this.n++}`);
  }
  c(i: number): string {
    return this.source.dialect.quoteIdentifier(`c${i}`);
  }
  /** Slot `i` of the derived table `t`, named for its use as its `StoredKind` says. */
  slotText(t: string, stored: ReadonlyMap<number, StoredKind>): ColumnText {
    return (i, use) => {
      const name = `${t}.${this.c(i)}`;
      switch (stored.get(i)) {
        case "uuid":
          return uuidAsStored(use) ? name : `CAST(${name} AS TEXT)`;
        case "float":
          return storedFloat(name, use);
        default:
          return name;
      }
    };
  }
  expr(e: Expr, column: ColumnText): string {
    if (!canPush(e, this.source)) throw new NotPushable();
    return renderExpr(e, column, this.params);
  }
  /** A sort or group key (`renderKey`). */
  key(e: Expr, column: ColumnText): string {
    if (!canPush(e, this.source)) throw new NotPushable();
    return renderKey(e, column, this.params);
  }

  block(node: PlanNode): Block {
    const caps = this.source.capabilities;
    const textEq = caps.textComparison !== "case-insensitive";
    switch (node.kind) {
      case "scan": {
        if (node.limit !== undefined || node.orderBy) throw new NotPushable();
        const d = this.source.dialect;
        const kindOf = (i: number): StoredKind | undefined => {
          const column = node.table.columns[i];
          if (column?.textCompare === "uuid") return "uuid";
          if (column?.singlePrecision && printedFloat("f", d) === undefined) return "float";
          return undefined;
        };
        const col: ColumnText = (i, use) =>
          kindOf(i) === "float"
            ? storedFloat(columnSql(d, node.table.columns[i]), use)
            : columnSql(d, node.table.columns[i], use);
        const available = new Set<number>();
        const stored = new Map<number, StoredKind>();
        const items: string[] = [];
        node.needed.forEach((n, i) => {
          if (n > 0) {
            available.add(i);
            const kind = kindOf(i);
            if (kind) stored.set(i, kind);
            const name = node.table.columns[i]?.name ?? "";
            items.push(`${kind ? d.quoteIdentifier(name) : col(i)} AS ${this.c(i)}`);
          }
        });
        const where = [...node.pushed, ...node.local].map((p) => this.expr(p, col));
        let sql = `SELECT ${items.length > 0 ? items.join(", ") : "1 AS z"} FROM ${qualifiedName(d, node.table)}`;
        if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
        return { sql, available, stored };
      }
      case "join": {
        if (node.type === "full" && this.source.dialect.kind === "mysql") throw new NotPushable();
        const left = this.block(node.left);
        const right = this.block(node.right);
        const l = this.alias();
        const r = this.alias();
        const lw = node.left.columns.length;
        const lcol = this.slotText(l, left.stored);
        const rcol = this.slotText(r, right.stored);
        const both: ColumnText = (i, use) => (i < lw ? lcol(i, use) : rcol(i - lw, use));
        const conds = node.leftKeys.map((k, i) => {
          const rk = node.rightKeys[i] as Expr;
          if ((k.type === "text" || rk.type === "text") && !textEq) throw new NotPushable();
          // Two uuids, or two floats, as stored are equal where the engine's values are.
          if (k.k === "col" && rk.k === "col") {
            const kind = left.stored.get(k.i);
            if (kind && right.stored.get(rk.i) === kind)
              return `${l}.${this.c(k.i)} = ${r}.${this.c(rk.i)}`;
          }
          return `${this.expr(k, lcol)} = ${this.expr(rk, rcol)}`;
        });
        if (node.residual) conds.push(this.expr(node.residual, both));
        const available = new Set<number>([
          ...left.available,
          ...[...right.available].map((i) => i + lw),
        ]);
        const stored = new Map([
          ...left.stored,
          ...[...right.stored].map(([i, kind]) => [i + lw, kind] as const),
        ]);
        const passed = (i: number) => (i < lw ? `${l}.${this.c(i)}` : `${r}.${this.c(i - lw)}`);
        const items = [...available].map((i) => `${passed(i)} AS ${this.c(i)}`);
        const kind =
          node.type === "cross" && conds.length === 0
            ? "CROSS JOIN"
            : `${node.type === "cross" ? "INNER" : node.type.toUpperCase()} JOIN`;
        let sql = `SELECT ${items.length > 0 ? items.join(", ") : "1 AS z"} FROM (${left.sql}) ${l} ${kind} (${right.sql}) ${r}`;
        if (kind !== "CROSS JOIN") sql += ` ON ${conds.length > 0 ? conds.join(" AND ") : "TRUE"}`;
        return { sql, available, stored };
      }
      case "filter": {
        const input = this.block(node.input);
        const t = this.alias();
        const items = [...input.available].map((i) => `${t}.${this.c(i)} AS ${this.c(i)}`);
        const pred = this.expr(node.predicate, this.slotText(t, input.stored));
        return {
          sql: `SELECT ${items.length > 0 ? items.join(", ") : "1 AS z"} FROM (${input.sql}) ${t} WHERE ${pred}`,
          available: input.available,
          stored: input.stored,
        };
      }
      case "project": {
        const input = this.block(node.input);
        const t = this.alias();
        // An expression over columns nothing fetched is an output nothing reads.
        const kept = node.exprs.flatMap((e, i) =>
          [...slotsOf(e)].every((j) => input.available.has(j)) ? [{ e, i }] : [],
        );
        const col = this.slotText(t, input.stored);
        // A column passed on as it is stays stored, for a join above.
        const stored = new Map<number, StoredKind>();
        const items = kept.map(({ e, i }) => {
          const kind = e.k === "col" ? input.stored.get(e.i) : undefined;
          if (e.k !== "col" || !kind) return `${this.expr(e, col)} AS ${this.c(i)}`;
          stored.set(i, kind);
          return `${t}.${this.c(e.i)} AS ${this.c(i)}`;
        });
        return {
          sql: `SELECT ${items.length > 0 ? items.join(", ") : "1 AS z"} FROM (${input.sql}) ${t}`,
          available: new Set(kept.map(({ i }) => i)),
          stored,
        };
      }
      case "distinct": {
        if (node.on || (node.columns.some((c) => c.type === "text") && !textEq))
          throw new NotPushable();
        const input = this.block(node.input);
        const t = this.alias();
        const items = [...input.available].map((i) => `${t}.${this.c(i)} AS ${this.c(i)}`);
        return {
          sql: `SELECT DISTINCT ${items.join(", ")} FROM (${input.sql}) ${t}`,
          available: input.available,
          stored: input.stored,
        };
      }
      case "aggregate": {
        if (!caps.aggregates || (node.sets && !canPushGroupingSets(this.source)))
          throw new NotPushable();
        // Nothing to group or compute is one row (`SELECT 1 … HAVING true`); a select list
        // without items would be one per input row.
        if (node.groups.length === 0 && node.aggs.length === 0) throw new NotPushable();
        const input = this.block(node.input);
        const t = this.alias();
        const col = this.slotText(t, input.stored);
        // A column grouped as stored stays stored, for a join above.
        const stored = new Map<number, StoredKind>();
        const groups = node.groups.map((g, i) => {
          if (!canPushGroupKey(g, this.source)) throw new NotPushable();
          const kind = g.k === "col" ? input.stored.get(g.i) : undefined;
          if (kind) stored.set(i, kind);
          return this.key(g, col);
        });
        const aggs = node.aggs.map((a) => this.aggregate(a, col, groups));
        const items = [
          ...groups.map((g, i) => `${g} AS ${this.c(i)}`),
          ...aggs.map((a, j) => `${a} AS ${this.c(groups.length + j)}`),
        ];
        let sql = `SELECT ${items.join(", ")} FROM (${input.sql}) ${t}`;
        const groupBy = node.sets ? groupingSetsList(groups, node.sets) : groupByList(groups);
        if (groupBy === undefined) throw new NotPushable();
        if (groups.length > 0 || node.sets) sql += ` GROUP BY ${groupBy}`;
        return { sql, available: new Set(items.map((_, i) => i)), stored };
      }
      case "union": {
        // MySQL and DuckDB give a column of integers and decimals the decimals' scale (`2.00`);
        // PostgreSQL keeps each value's own (`2`).
        if (this.source.dialect.kind !== "postgres" && mixesDecimalColumns(node.inputs))
          throw new NotPushable();
        const blocks = node.inputs.map((i) => this.block(i));
        // Inputs that produce the same columns line up (a logical table's members read alike).
        const first = blocks[0];
        // A column as stored lines up only with one stored alike: the source has no union of
        // uuid and text, and would widen a float beside a double.
        const same = (b: Block) =>
          first !== undefined &&
          b.available.size === first.available.size &&
          [...b.available].every((i) => first.available.has(i)) &&
          b.stored.size === first.stored.size &&
          [...b.stored].every(([i, kind]) => first.stored.get(i) === kind);
        if (!first || !blocks.every(same)) throw new NotPushable();
        return {
          sql: blocks.map((b) => `(${b.sql})`).join(" UNION ALL "),
          available: first.available,
          stored: first.stored,
        };
      }
      default:
        // Sorts and limits inside a statement, remote nodes and values stay in the engine.
        throw new NotPushable();
    }
  }

  aggregate(a: AggCall, col: (i: number) => string, groups: string[]): string {
    if (!canPushAggregate(a, this.source)) throw new NotPushable();
    return aggregateSql(a, groups, (x) => this.expr(x, col));
  }
}

/** Whether some column is a decimal in one input and of another type in another. */
function mixesDecimalColumns(inputs: readonly PlanNode[]): boolean {
  const width = inputs[0]?.columns.length ?? 0;
  for (let j = 0; j < width; j++) {
    const types = new Set(inputs.map((i) => i.columns[j]?.type).filter((t) => t !== "null"));
    if (types.has("decimal") && types.size > 1) return true;
  }
  return false;
}
