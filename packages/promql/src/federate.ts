/**
 * Planning a query over instances that each hold whole series (a series lives in one instance
 * or one replica group, as with Prometheus servers sharded by target). Each instance evaluates
 * the largest subexpressions it can answer alone — the *parts* — and the federation merges
 * their answers exactly before evaluating what is left, the *central* expression, in which
 * every pushed subexpression has become an `external` node.
 *
 * What an instance can answer alone is a *series-local* expression: its every output series
 * depends on one input series (selectors, range functions, per-series math, label rewriting,
 * operators with a constant operand). Their answers from all instances are simply united.
 * An aggregation of a series-local expression is pushed as partial aggregates:
 *
 *   sum, min, max, group, topk, bottomk  the same aggregation again over every instance's answer
 *   count                                sum of the instances' counts
 *   avg                                  Σ sums / Σ counts (never a mean of means)
 *   stddev, stdvar                       count, mean and variance per instance, merged by the
 *                                        parallel formula (see `mergeMoments`)
 *   quantile, count_values               the series-local input, united, aggregated centrally
 *
 * Everything else (operators between two vectors, `absent`, `scalar`, `sort`,
 * `histogram_quantile`, …) is evaluated centrally over pushed inputs.
 *
 * A part is evaluated over the times the central evaluation needs it at: the query's own
 * steps, or, inside a subquery, the subquery's steps (multiples of its step covering every
 * window the outer steps ask for). `@ start()` and `@ end()` are fixed to the query's times
 * first, so a part means the same whatever range it is evaluated over. Pure.
 */
import type { AggregateExpr, AtModifier, BinaryExpr, Expr, ExternalExpr } from "./ast.ts";
import type { EvalRange } from "./engine.ts";
import { PromQLError } from "./errors.ts";
import { DEFAULT_SUBQUERY_STEP_MS } from "./eval-context.ts";
import { typeOf } from "./typecheck.ts";

/** How the instances' answers to a pushdown's parts become the external node's values. */
export type MergeKind =
  /** Series of different instances united; one label set from two instances is an error. */
  | "union"
  /** Every instance's series kept side by side, for an aggregation applied again centrally. */
  | "concat"
  /** Parts count, avg and stdvar per group merged into the variance (or deviation) of all. */
  | "stdvar"
  | "stddev";

export interface Pushdown {
  key: string;
  merge: MergeKind;
  /** Indexes into `FederationPlan.parts`: what each instance evaluates for this pushdown. */
  parts: number[];
}

/** A subexpression every instance evaluates over its own data, at the times given. */
export interface PushedPart {
  expr: Expr;
  range: EvalRange;
}

export interface FederationOptions {
  /** A subquery's step when it names none: Prometheus' global evaluation interval. */
  defaultSubqueryStepMs?: number;
}

export interface FederationPlan {
  parts: PushedPart[];
  /** The instances' united answer to the one part is the whole answer (a range vector). */
  united: boolean;
  pushdowns: Pushdown[];
  /** The query with every pushed subexpression replaced by an `external` node. */
  central: Expr;
}

/** Functions whose output series each come from one input series (and carry no global view). */
const SERIES_LOCAL_FUNCTIONS = new Set([
  "abs",
  "acos",
  "acosh",
  "asin",
  "asinh",
  "atan",
  "atanh",
  "avg_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "cos",
  "cosh",
  "count_over_time",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "days_in_month",
  "deg",
  "delta",
  "deriv",
  "exp",
  "floor",
  "hour",
  "idelta",
  "increase",
  "irate",
  "label_join",
  "label_replace",
  "last_over_time",
  "ln",
  "log10",
  "log2",
  "max_over_time",
  "min_over_time",
  "minute",
  "month",
  "predict_linear",
  "present_over_time",
  "quantile_over_time",
  "rad",
  "rate",
  "resets",
  "round",
  "sgn",
  "sin",
  "sinh",
  "sqrt",
  "stddev_over_time",
  "stdvar_over_time",
  "sum_over_time",
  "tan",
  "tanh",
  "timestamp",
  "year",
]);

const SET_OPERATORS = new Set(["and", "or", "unless"]);

function isScalarConstant(expr: Expr): boolean {
  return isConstant(expr) && typeOf(expr) === "scalar";
}

/** Aggregations whose partial answers merge by applying the same aggregation again. */
const REAPPLIED = new Set(["sum", "min", "max", "group", "topk", "bottomk"]);

/** Answers by node: the planner asks about every subtree at every level. */
function memoized(compute: (expr: Expr) => boolean): (expr: Expr) => boolean {
  const known = new WeakMap<Expr, boolean>();
  return (expr) => {
    let answer = known.get(expr);
    if (answer === undefined) {
      answer = compute(expr);
      known.set(expr, answer);
    }
    return answer;
  };
}

/** True when the expression reads no series: it is the same everywhere and cheap to evaluate. */
export const isConstant = memoized((expr: Expr): boolean => {
  switch (expr.type) {
    case "number":
    case "string":
      return true;
    case "vectorSelector":
    case "matrixSelector":
    case "external":
      return false;
    case "subquery":
    case "paren":
    case "unary":
      return isConstant(expr.expr);
    case "call":
      return expr.args.every(isConstant);
    case "aggregate":
      return isConstant(expr.expr) && (expr.param === undefined || isConstant(expr.param));
    case "binary":
      return isConstant(expr.lhs) && isConstant(expr.rhs);
  }
});

/** True when every output series of `expr` depends on one input series held by one instance. */
export const isSeriesLocal = memoized((expr: Expr): boolean => {
  switch (expr.type) {
    case "vectorSelector":
    case "matrixSelector":
      return true;
    case "subquery":
    case "paren":
    case "unary":
      return isSeriesLocal(expr.expr);
    case "call": {
      if (!SERIES_LOCAL_FUNCTIONS.has(expr.name)) return false;
      const data = expr.args.filter((arg) => !isConstant(arg));
      return data.length === 1 && isSeriesLocal(data[0] as Expr);
    }
    case "binary": {
      // A scalar operand is the same for every series; a constant vector (`or vector(1)`) is not.
      if (SET_OPERATORS.has(expr.op)) return false;
      if (isScalarConstant(expr.lhs)) return isSeriesLocal(expr.rhs);
      if (isScalarConstant(expr.rhs)) return isSeriesLocal(expr.lhs);
      return false;
    }
    default:
      return false;
  }
});

class Planner {
  readonly parts: PushedPart[] = [];
  readonly pushdowns: Pushdown[] = [];

  /** A subquery window can hold no step at all: such a pushdown asks nothing and has no series. */
  private push(merge: MergeKind, parts: Expr[], original: Expr, range: EvalRange): ExternalExpr {
    const key = `p${this.pushdowns.length}`;
    const empty = range.start > range.end;
    const indexes = empty ? [] : parts.map((expr) => this.parts.push({ expr, range }) - 1);
    this.pushdowns.push({ key, merge, parts: indexes });
    return { type: "external", key, resultType: "vector", original };
  }

  plan(expr: Expr, range: EvalRange): Expr {
    if (isConstant(expr)) return expr;
    if (isSeriesLocal(expr) && typeOf(expr) === "vector") {
      return this.push("union", [expr], expr, range);
    }
    switch (expr.type) {
      case "aggregate":
        return this.planAggregate(expr, range);
      case "paren":
      case "unary":
        return { ...expr, expr: this.plan(expr.expr, range) };
      case "subquery":
        return { ...expr, expr: this.plan(expr.expr, this.subqueryRange(expr, range)) };
      case "call":
        return this.planCall(expr, range);
      case "binary":
        return { ...expr, lhs: this.plan(expr.lhs, range), rhs: this.plan(expr.rhs, range) };
      case "matrixSelector":
        // A range function whose other argument reads series (`quantile_over_time(scalar(y),
        // x[5m])`) cannot go to the instances whole, and a range vector has no pushed form.
        throw new PromQLError(
          "execution",
          `${printableName(expr)}: a range vector can only be federated inside a function whose other arguments are constants`,
        );
      default:
        return expr;
    }
  }

  /** The steps a subquery evaluates its inside at, for every outer step of `range`. */
  private subqueryRange(expr: Extract<Expr, { type: "subquery" }>, range: EvalRange): EvalRange {
    // Every subquery has its step by now (see `resolveForInstances`).
    const step = expr.stepMs;
    const [from, to] =
      expr.at?.kind === "time" ? [expr.at.ms, expr.at.ms] : [range.start, range.end];
    const first = from - expr.offsetMs - expr.rangeMs;
    return { start: Math.ceil(first / step) * step, end: to - expr.offsetMs, step };
  }

  private planCall(expr: Extract<Expr, { type: "call" }>, range: EvalRange): Expr {
    const [arg] = expr.args;
    // Nothing in any instance's window: counted where the series are, absent centrally. The
    // pushed node keeps the selector, whose matchers give absent's labels.
    if (expr.name === "absent_over_time" && arg !== undefined && isSeriesLocal(arg)) {
      const counted: Expr = { type: "call", name: "count_over_time", args: [arg] };
      const pushed = this.push("union", [counted], arg, range);
      return { type: "call", name: "absent", args: [{ ...pushed, resultType: "vector" }] };
    }
    return { ...expr, args: expr.args.map((a) => this.plan(a, range)) };
  }

  private planAggregate(expr: AggregateExpr, range: EvalRange): Expr {
    const pushable =
      isSeriesLocal(expr.expr) && (expr.param === undefined || isConstant(expr.param));
    if (!pushable) {
      const param = expr.param === undefined ? {} : { param: this.plan(expr.param, range) };
      return { ...expr, expr: this.plan(expr.expr, range), ...param };
    }
    if (REAPPLIED.has(expr.op)) {
      return { ...expr, expr: this.push("concat", [expr], expr, range) };
    }
    switch (expr.op) {
      case "count":
        return { ...expr, op: "sum", expr: this.push("concat", [expr], expr, range) };
      case "avg": {
        const sum = this.reaggregated("sum", expr, range);
        const count = this.reaggregated("count", expr, range);
        return divide(sum, count);
      }
      case "stddev":
      case "stdvar":
        return this.push(
          expr.op,
          [withOp(expr, "count"), withOp(expr, "avg"), withOp(expr, "stdvar")],
          expr,
          range,
        );
      default:
        // quantile and count_values need every series' value in one place.
        return { ...expr, expr: this.push("union", [expr.expr], expr.expr, range) };
    }
  }

  /** `sum <grouping> (external of <op> <grouping> (inner))`: partials pushed, then summed. */
  private reaggregated(op: "sum" | "count", expr: AggregateExpr, range: EvalRange): AggregateExpr {
    const pushed = withOp(expr, op);
    return { ...expr, op: "sum", expr: this.push("concat", [pushed], pushed, range) };
  }
}

function withOp(expr: AggregateExpr, op: AggregateExpr["op"]): AggregateExpr {
  const { param: _param, ...rest } = expr;
  return { ...rest, op };
}

function divide(lhs: Expr, rhs: Expr): BinaryExpr {
  return {
    type: "binary",
    op: "/",
    lhs,
    rhs,
    returnBool: false,
    matching: { card: "one-to-one", on: false, labels: [], include: [] },
  };
}

/** Splits `expr` into the parts every instance evaluates and the central rest. */
export function planFederation(
  query: Expr,
  range: EvalRange,
  options: FederationOptions = {},
): FederationPlan {
  const subqueryStepMs = options.defaultSubqueryStepMs ?? DEFAULT_SUBQUERY_STEP_MS;
  const expr = resolveForInstances(query, range, subqueryStepMs);
  const planner = new Planner();
  // An instant query for a series-local range vector: each instance's samples, united.
  if (typeOf(expr) === "matrix" && isSeriesLocal(expr)) {
    planner.parts.push({ expr, range });
    planner.pushdowns.push({ key: "p0", merge: "union", parts: [0] });
    return { parts: planner.parts, pushdowns: planner.pushdowns, central: expr, united: true };
  }
  const central = planner.plan(expr, range);
  return { parts: planner.parts, pushdowns: planner.pushdowns, central, united: false };
}

/**
 * What would mean something else on an instance made explicit: `@ start()` and `@ end()` as the
 * query's times (a part may be evaluated over another range), and a subquery's default step
 * (a Prometheus server would use its own evaluation interval).
 */
export function resolveForInstances(expr: Expr, range: EvalRange, subqueryStepMs: number): Expr {
  const fixed = (at: AtModifier | undefined): AtModifier | undefined => {
    if (at?.kind === "start") return { kind: "time", ms: range.start };
    if (at?.kind === "end") return { kind: "time", ms: range.end };
    return at;
  };
  const withAt = <T extends { at?: AtModifier }>(node: T): T => {
    const at = fixed(node.at);
    return at === undefined ? node : { ...node, at };
  };
  const walk = (e: Expr): Expr => {
    switch (e.type) {
      case "vectorSelector":
        return withAt(e);
      case "matrixSelector":
        return { ...e, selector: withAt(e.selector) };
      case "subquery":
        return withAt({
          ...e,
          expr: walk(e.expr),
          stepMs: e.stepMs > 0 ? e.stepMs : subqueryStepMs,
        });
      case "paren":
      case "unary":
        return { ...e, expr: walk(e.expr) };
      case "call":
        return { ...e, args: e.args.map(walk) };
      case "aggregate":
        return {
          ...e,
          expr: walk(e.expr),
          ...(e.param === undefined ? {} : { param: walk(e.param) }),
        };
      case "binary":
        return { ...e, lhs: walk(e.lhs), rhs: walk(e.rhs) };
      default:
        return e;
    }
  };
  return walk(expr);
}

function printableName(expr: Extract<Expr, { type: "matrixSelector" }>): string {
  return `${expr.selector.name ?? "selector"}[${expr.rangeMs}ms]`;
}
