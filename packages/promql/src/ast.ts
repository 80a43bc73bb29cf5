/**
 * The PromQL syntax tree the evaluator walks, built from `@prometheus-io/lezer-promql`'s parse
 * tree by parse.ts. Durations and timestamps are milliseconds, as in Prometheus.
 */

export type ValueType = "scalar" | "vector" | "matrix" | "string";

export type MatchOp = "=" | "!=" | "=~" | "!~";

export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** `@ <timestamp>`, `@ start()` or `@ end()`. */
export type AtModifier = { kind: "time"; ms: number } | { kind: "start" } | { kind: "end" };

export interface NumberLiteral {
  type: "number";
  value: number;
}

export interface StringLiteral {
  type: "string";
  value: string;
}

export interface VectorSelector {
  type: "vectorSelector";
  /** The metric name when written before the braces; also present as a `__name__` matcher. */
  name?: string;
  /** Every matcher, the metric name included as `__name__ = name`. */
  matchers: LabelMatcher[];
  offsetMs: number;
  at?: AtModifier;
}

export interface MatrixSelector {
  type: "matrixSelector";
  /** Carries the offset and `@` of the whole range selector. */
  selector: VectorSelector;
  rangeMs: number;
}

export interface SubqueryExpr {
  type: "subquery";
  expr: Expr;
  rangeMs: number;
  /** 0 when omitted: the query's step (or the default evaluation interval, 1 minute) applies. */
  stepMs: number;
  offsetMs: number;
  at?: AtModifier;
}

export interface FunctionCall {
  type: "call";
  name: string;
  args: Expr[];
}

export type AggregateOp =
  | "sum"
  | "avg"
  | "min"
  | "max"
  | "count"
  | "stddev"
  | "stdvar"
  | "group"
  | "topk"
  | "bottomk"
  | "quantile"
  | "count_values";

export interface AggregateExpr {
  type: "aggregate";
  op: AggregateOp;
  expr: Expr;
  /** The first argument of topk, bottomk, quantile and count_values. */
  param?: Expr;
  /** Labels of `by (…)` or `without (…)`; empty without a clause. */
  grouping: string[];
  without: boolean;
}

export type ArithmeticOp = "+" | "-" | "*" | "/" | "%" | "^" | "atan2";
export type ComparisonOp = "==" | "!=" | ">" | "<" | ">=" | "<=";
export type SetOp = "and" | "or" | "unless";
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp;

export interface VectorMatching {
  /** "one-to-one", or the side with many series per match (`group_left` = "many-to-one"). */
  card: "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many";
  /** `on (…)` when true, `ignoring (…)` when false. */
  on: boolean;
  labels: string[];
  /** Labels of `group_left (…)` / `group_right (…)` copied from the "one" side. */
  include: string[];
}

export interface BinaryExpr {
  type: "binary";
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  /** `bool` after a comparison. */
  returnBool: boolean;
  /** Present when both sides are vectors (set operators are always many-to-many). */
  matching?: VectorMatching;
}

export interface UnaryExpr {
  type: "unary";
  op: "-" | "+";
  expr: Expr;
}

export interface ParenExpr {
  type: "paren";
  expr: Expr;
}

/**
 * A subexpression whose values were computed elsewhere (pushed down to an instance) and are
 * handed to the evaluator by `key`: a series per label set with a sample at each step it has.
 */
export interface ExternalExpr {
  type: "external";
  key: string;
  resultType: "vector" | "scalar";
  /** The subexpression it stands for (printed in EXPLAIN-like output and errors). */
  original: Expr;
}

/**
 * `<expr> @ …` or `<expr> offset …` applied to something other than a selector or a subquery
 * is refused by the parser, as by Prometheus; on selectors and subqueries they are fields.
 */
export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | FunctionCall
  | AggregateExpr
  | BinaryExpr
  | UnaryExpr
  | ParenExpr
  | ExternalExpr;
