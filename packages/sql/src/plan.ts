/** The logical plan: bound expressions over row slots, and the operators that move rows. */
import type { MemberConstraint } from "./logical.ts";
import type { CatalogTable, ColumnDef, SourceStatement, SqlType, Value } from "./types.ts";
import type { NumericTypmod } from "./values.ts";

export type CompareOp = "=" | "<>" | "<" | "<=" | ">" | ">=";
export type ArithOp = "+" | "-" | "*" | "/" | "%";

export type Expr =
  | { k: "col"; i: number; type: SqlType; name: string }
  | { k: "lit"; v: Value; type: SqlType }
  | { k: "cmp"; op: CompareOp; l: Expr; r: Expr; type: "boolean" }
  | { k: "arith"; op: ArithOp; l: Expr; r: Expr; type: SqlType }
  | { k: "concat"; l: Expr; r: Expr; type: "text" }
  | { k: "and" | "or"; args: Expr[]; type: "boolean" }
  | { k: "not"; e: Expr; type: "boolean" }
  | { k: "neg"; e: Expr; type: SqlType }
  | { k: "isnull"; e: Expr; not: boolean; type: "boolean" }
  | { k: "in"; e: Expr; list: Expr[]; not: boolean; type: "boolean" }
  | { k: "between"; e: Expr; lo: Expr; hi: Expr; not: boolean; type: "boolean" }
  | { k: "like"; e: Expr; pattern: Expr; not: boolean; ci: boolean; type: "boolean" }
  | { k: "case"; operand?: Expr; whens: [Expr, Expr][]; else?: Expr; type: SqlType }
  | { k: "fn"; name: string; args: Expr[]; type: SqlType }
  | { k: "cast"; e: Expr; type: SqlType; typmod?: NumericTypmod }
  /** `(keys) [NOT] IN (subquery)`: the subquery's rows, materialized before the main plan. */
  | { k: "inSub"; keys: Expr[]; sub: number; not: boolean; type: "boolean" }
  /**
   * `[NOT] EXISTS (subquery)`, decorrelated: the subquery's rows are its inner sides of the
   * correlating conditions, `keys` the outer sides. Without `compare` all are equalities; with
   * it the last `compare.length` keys are compared by those operators (`inner <op> outer`).
   * With one comparison the subquery has one row per group of equality keys: the keys, then the
   * least and the greatest inner value compared, which decide it for any outer value.
   */
  | {
      k: "exists";
      keys: Expr[];
      sub: number;
      not: boolean;
      compare?: CompareOp[];
      reduce?: Reduction;
      type: "boolean";
    }
  /**
   * A scalar subquery's value. With `keys`, a decorrelated one: its rows are (keys…, value) and
   * the outer keys pick the row; `empty` is the subquery whose one row answers a missing key.
   */
  | {
      k: "scalarSub";
      sub: number;
      keys?: Expr[];
      empty?: number;
      reduce?: Reduction;
      type: SqlType;
    }
  | { k: "agg"; fn: AggFn; arg?: Expr; distinct: boolean; type: SqlType }
  /** GROUPING(args…): which arguments the row's grouping set leaves out, as bits. */
  | { k: "grouping"; args: Expr[]; type: SqlType }
  /** The value of window call `w` of the SELECT being bound; becomes a column of its window node. */
  | { k: "win"; w: number; type: SqlType };

/**
 * A decorrelated subquery that may run for the outer rows' keys only (a semi-join reduction):
 * `plan` is the same subquery with its first key restricted to the rows of `keyList`, a
 * subquery the executor fills with the distinct outer values of `keys[0]` (see reduce.ts).
 */
export interface Reduction {
  plan: number;
  keyList: number;
}

/**
 * A subquery that does not run before the root: a reducible one, run when the one filter that
 * reads it is reached (for that filter's rows' keys where they are few, else whole); the
 * reduced plan and the key list of one; a reduction not taken, never run.
 */
export type Deferred =
  | { role: "at filter"; reduction: Reduction }
  | { role: "reduction" | "key list"; of: number }
  | { role: "unused" };

/**
 * A frame's edge: unbounded, the current row (its peers in RANGE and GROUPS frames), or an
 * offset, negative for PRECEDING: rows away (ROWS), peer groups away (GROUPS), or how far the
 * ORDER BY value may be from the current row's (RANGE).
 */
export type FrameBound =
  | { kind: "unbounded" }
  | { kind: "current" }
  | {
      kind: "offset";
      by: number;
      /** The direction as written (so that `0 PRECEDING` keeps it) and the offset's text. */
      preceding: boolean;
      literal: string;
    };

export type FrameUnit = "rows" | "range" | "groups";

/** Rows a frame leaves out (EXCLUDE): the current row, its peers with it, or its peers only. */
export type FrameExclusion = "current row" | "group" | "ties";

export interface WindowCall {
  /** row_number, rank, dense_rank, ntile, lag, lead, first_value, last_value, nth_value, or an aggregate. */
  fn: string;
  args: Expr[];
  partition: Expr[];
  order: SortKey[];
  frame: { unit: FrameUnit; start: FrameBound; end: FrameBound; exclude?: FrameExclusion };
  type: SqlType;
}

export type AggFn = "count" | "sum" | "avg" | "min" | "max" | "grouping";

export interface AggCall {
  fn: AggFn;
  arg?: Expr;
  distinct: boolean;
  type: SqlType;
  /**
   * AVG over partial sums: how many values each `arg` (a partial sum) stands for, so the
   * average is Σ sums / Σ counts. Set only where the engine merges members' partial aggregates.
   */
  weight?: Expr;
  /** GROUPING's value in each of the aggregate's grouping sets (see bind.ts groupingMasks). */
  masks?: number[];
  /** GROUPING's arguments, as indices of the aggregate's groups (to send it to a source). */
  groupingArgs?: number[];
}

export interface SortKey {
  expr: Expr;
  desc: boolean;
  nullsFirst: boolean;
}

export type JoinType = "inner" | "left" | "right" | "full" | "cross";

export interface ScanNode {
  kind: "scan";
  table: CatalogTable;
  alias: string;
  columns: ColumnDef[];
  /** References per table column outside pushed predicates; columns with none are not fetched. */
  needed: number[];
  /** Predicates the source runs (over table column slots). */
  pushed: Expr[];
  /** Predicates the engine runs on the scanned rows. */
  local: Expr[];
  limit?: number;
  orderBy?: SortKey[];
  estimate: number;
}

export interface RemoteNode {
  kind: "remote";
  source: string;
  statement: SourceStatement;
  columns: ColumnDef[];
  /** Where each returned column goes in the node's row, when not simply in order. */
  positions?: number[];
  /** What the statement replaced, for EXPLAIN. */
  describes: string;
  /**
   * A join's rows, or an aggregate's grouped by the join keys, without order or limit: a join
   * may narrow them to its build side's keys by wrapping the statement in `WHERE column IN (…)`,
   * which the source moves into its scans.
   */
  keyFilterable?: true;
  /** Whole tables joined on keys, no predicate on any: all of its first table's rows. */
  wholeTables?: true;
  /**
   * Narrowed at run time to the keys of subquery `sub` (which runs before it) in `column`, the
   * way a join narrows it; the `IN (subquery)` itself is still tested above it.
   * `presentIn`: where the statement is the DISTINCT of that one column, the statement of the
   * rows it reads, so the source can be asked which keys occur in them instead
   * (`renderKeysPresent`).
   */
  keysOf?: { sub: number; column: number; presentIn?: SourceStatement };
  /** Sent unchanged by this many parts of the plan: read once, its rows held for each use. */
  shared?: number;
  /** The logical tables it reads, with their members read and pruned, for EXPLAIN. */
  logical?: LogicalRead[];
  estimate: number;
}

/** A logical table as a statement reads it: the members read, the members pruned, and why. */
export interface LogicalRead {
  note?: string;
  read: ShardRead[];
  pruned: ShardPruned[];
}

export interface JoinNode {
  kind: "join";
  type: JoinType;
  left: PlanNode;
  right: PlanNode;
  /** Equality keys: leftKeys over the left row, rightKeys over the right row. */
  leftKeys: Expr[];
  rightKeys: Expr[];
  /** Any other ON condition, over the concatenated row. */
  residual?: Expr;
  build: "left" | "right";
  /** The probe side's scan column that receives the build side's keys, when it can. */
  dynamicFilter?: { keyIndex: number; column: number };
  columns: ColumnDef[];
  estimate: number;
}

export type PlanNode =
  | ScanNode
  | RemoteNode
  | JoinNode
  | { kind: "filter"; input: PlanNode; predicate: Expr; columns: ColumnDef[]; estimate: number }
  | { kind: "project"; input: PlanNode; exprs: Expr[]; columns: ColumnDef[]; estimate: number }
  | {
      kind: "aggregate";
      input: PlanNode;
      groups: Expr[];
      /**
       * ROLLUP and CUBE: the grouping sets, each the indices of the `groups` it groups by (the
       * others are NULL in its rows). Absent: one set of every group.
       */
      sets?: number[][];
      aggs: AggCall[];
      columns: ColumnDef[];
      estimate: number;
    }
  | { kind: "sort"; input: PlanNode; keys: SortKey[]; columns: ColumnDef[]; estimate: number }
  | {
      kind: "limit";
      input: PlanNode;
      limit?: number;
      offset: number;
      columns: ColumnDef[];
      estimate: number;
    }
  /** DISTINCT: the first row of each distinct row, or with `on`, of each distinct value of those columns. */
  | { kind: "distinct"; input: PlanNode; on?: number[]; columns: ColumnDef[]; estimate: number }
  | {
      kind: "union";
      inputs: PlanNode[];
      columns: ColumnDef[];
      estimate: number;
      note?: string;
      /** A logical table's members read, one per input, and those pruned. */
      shards?: LogicalRead;
    }
  | { kind: "values"; rows: Expr[][]; columns: ColumnDef[]; estimate: number }
  /** Window calls' values appended to each input row, in input order. */
  | {
      kind: "window";
      input: PlanNode;
      windows: WindowCall[];
      columns: ColumnDef[];
      estimate: number;
    }
  /**
   * INTERSECT or EXCEPT: the left input's distinct rows found (or not found) among the right's,
   * NULLs equal to each other. With ALL, a row m times on the left and n on the right is kept
   * min(m, n) times (INTERSECT ALL) or max(m - n, 0) times (EXCEPT ALL).
   */
  | {
      kind: "setop";
      op: "intersect" | "except";
      all: boolean;
      inputs: [PlanNode, PlanNode];
      columns: ColumnDef[];
      estimate: number;
    };

/** A logical table's member that a statement reads: what it holds, and why it is read. */
export interface ShardRead {
  label: string;
  constraint: MemberConstraint;
  why: string;
}

/** A member a statement's predicates rule out, and why. */
export interface ShardPruned {
  label: string;
  why: string;
}

export interface QueryPlan {
  root: PlanNode;
  /** Uncorrelated (or decorrelated) subqueries, run before the root unless `deferred`. */
  subqueries: PlanNode[];
  /** Subqueries not run before the root, and what runs them instead (see reduce.ts). */
  deferred?: Map<number, Deferred>;
  columns: ColumnDef[];
}
