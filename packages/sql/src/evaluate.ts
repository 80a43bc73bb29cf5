/** Compiles bound expressions to closures over rows, with SQL's three-valued logic. */

import type { MemoryShare } from "./budget.ts";
import {
  addToDate,
  addToTimestamp,
  dateField,
  daysBetween,
  extractField,
  extractNumeric,
  truncate,
  truncUnit,
} from "./dates.ts";
import { Decimal, toDecimal } from "./decimal.ts";
import { badRequest } from "./errors.ts";
import { compileLike, type LikeMatcher } from "./like.ts";
import type { CompareOp, Deferred, Expr, PlanNode } from "./plan.ts";
import type { Row, SqlType, Value } from "./types.ts";
import { castToNumeric, castValue, compareValues, compositeKey, isIntegerType } from "./values.ts";

/** A subquery's materialized result, as the expressions that use it need it. */
export interface SubqueryResult {
  rows: Row[];
  /** Keys of the first columns (as many as the IN/EXISTS uses), for membership tests. */
  keys?: Set<unknown>;
  /** Whether some key has a NULL (NOT IN then yields NULL, never true). */
  hasNull?: boolean;
}

export interface EvalContext {
  subqueries: SubqueryResult[];
  /**
   * The plan's subqueries that do not run first, the plans of all, and the memory each deferred
   * one's result holds, given back when a filter run again runs it again (exec-reduce.ts).
   */
  deferred?: {
    plans: readonly PlanNode[];
    roles: ReadonlyMap<number, Deferred>;
    shares: Map<number, MemoryShare>;
  };
}

export type Compiled = (row: Row) => Value;

const isNull = (v: Value) => v === null || v === undefined;

/** Compiled LIKE patterns one expression keeps. */
const LIKE_PATTERNS_KEPT = 1024;

export function compile(expr: Expr, ctx: EvalContext): Compiled {
  switch (expr.k) {
    case "col": {
      const i = expr.i;
      return (row) => row[i] ?? null;
    }
    case "lit": {
      const v = expr.v;
      return () => v;
    }
    case "cmp": {
      const l = compile(expr.l, ctx);
      const r = compile(expr.r, ctx);
      const test = comparator(expr.op);
      return (row) => {
        const a = l(row);
        if (isNull(a)) return null;
        const b = r(row);
        if (isNull(b)) return null;
        return test(compareValues(a, b));
      };
    }
    case "arith":
      return arithmetic(expr, ctx);
    case "concat": {
      const l = compile(expr.l, ctx);
      const r = compile(expr.r, ctx);
      return (row) => {
        const a = l(row);
        const b = r(row);
        return isNull(a) || isNull(b) ? null : `${castValue(a, "text")}${castValue(b, "text")}`;
      };
    }
    case "and":
      return connective(
        expr.args.map((a) => compile(a, ctx)),
        false,
      );
    case "or":
      return connective(
        expr.args.map((a) => compile(a, ctx)),
        true,
      );
    case "not": {
      const e = compile(expr.e, ctx);
      return (row) => {
        const v = e(row);
        return isNull(v) ? null : !v;
      };
    }
    case "neg": {
      const e = compile(expr.e, ctx);
      return (row) => {
        const v = e(row);
        if (isNull(v)) return null;
        if (v instanceof Decimal) return v.negate();
        return typeof v === "bigint" ? -v : -(v as number);
      };
    }
    case "isnull": {
      const e = compile(expr.e, ctx);
      const not = expr.not;
      return (row) => isNull(e(row)) !== not;
    }
    case "in": {
      const e = compile(expr.e, ctx);
      const list = expr.list.map((x) => compile(x, ctx));
      const not = expr.not;
      return (row) => {
        const v = e(row);
        if (isNull(v)) return null;
        let unknown = false;
        for (const item of list) {
          const w = item(row);
          if (isNull(w)) unknown = true;
          else if (compareValues(v, w) === 0) return !not;
        }
        return unknown ? null : not;
      };
    }
    case "between": {
      const e = compile(expr.e, ctx);
      const lo = compile(expr.lo, ctx);
      const hi = compile(expr.hi, ctx);
      const not = expr.not;
      return (row) => {
        const v = e(row);
        const a = lo(row);
        const b = hi(row);
        if (isNull(v) || isNull(a) || isNull(b)) return null;
        const inside = compareValues(v, a) >= 0 && compareValues(v, b) <= 0;
        return inside !== not;
      };
    }
    case "like": {
      const e = compile(expr.e, ctx);
      const p = compile(expr.pattern, ctx);
      const compiled = new Map<string, LikeMatcher>();
      const { not, ci } = expr;
      return (row) => {
        const v = e(row);
        const pat = p(row);
        if (isNull(v) || isNull(pat)) return null;
        const ps = String(pat);
        let matcher = compiled.get(ps);
        if (!matcher) {
          // Patterns read from a column may all differ: keep the memory bounded.
          if (compiled.size >= LIKE_PATTERNS_KEPT) compiled.clear();
          matcher = compileLike(ps, ci);
          compiled.set(ps, matcher);
        }
        return matcher(String(v)) !== not;
      };
    }
    case "case": {
      const operand = expr.operand ? compile(expr.operand, ctx) : undefined;
      const whens = expr.whens.map(([c, r]) => [compile(c, ctx), compile(r, ctx)] as const);
      const otherwise = expr.else ? compile(expr.else, ctx) : () => null;
      return asDoubles(expr.type, (row) => {
        const base = operand ? operand(row) : undefined;
        for (const [c, r] of whens) {
          const cv = c(row);
          if (operand) {
            if (!isNull(base) && !isNull(cv) && compareValues(base, cv) === 0) return r(row);
          } else if (cv === true) return r(row);
        }
        return otherwise(row);
      });
    }
    case "fn":
      return asDoubles(
        expr.type,
        fn(
          expr.name,
          expr.args.map((a) => compile(a, ctx)),
          expr.type,
        ),
      );
    case "cast": {
      const e = compile(expr.e, ctx);
      const { type, typmod } = expr;
      if (typmod) return (row) => castToNumeric(e(row), typmod);
      return (row) => castValue(e(row), type);
    }
    case "inSub": {
      const keys = expr.keys.map((k) => compile(k, ctx));
      const { sub, not } = expr;
      return (row) => {
        const result = ctx.subqueries[sub];
        if (!result?.keys) throw new Error(`subquery ${sub} was not run`);
        if (result.rows.length === 0) return not;
        const values = keys.map((k) => k(row));
        const key = compositeKey(values);
        if (key === undefined) return null;
        if (result.keys.has(key)) return !not;
        return result.hasNull ? null : not;
      };
    }
    case "exists": {
      if (expr.compare) return existsWithComparisons(expr, expr.compare, ctx);
      const keys = expr.keys.map((k) => compile(k, ctx));
      const { sub, not } = expr;
      return (row) => {
        const result = ctx.subqueries[sub];
        if (!result) throw new Error(`subquery ${sub} was not run`);
        if (keys.length === 0) return result.rows.length > 0 !== not;
        const key = compositeKey(keys.map((k) => k(row)));
        const found = key !== undefined && (result.keys?.has(key) ?? false);
        return found !== not;
      };
    }
    case "scalarSub": {
      if (expr.keys) return keyedScalar(expr, expr.keys, ctx);
      const { sub } = expr;
      return () => {
        const result = ctx.subqueries[sub];
        if (!result) throw new Error(`subquery ${sub} was not run`);
        if (result.rows.length > 1)
          throw badRequest("more than one row returned by a subquery used as an expression");
        return result.rows[0]?.[0] ?? null;
      };
    }
    case "agg":
      throw badRequest("aggregate functions are not allowed here");
    case "grouping":
      throw badRequest("GROUPING is not allowed here");
    case "win":
      throw new Error("a window call was not replaced by its column");
  }
}

/**
 * EXISTS correlated by equalities and other comparisons: the subquery's rows grouped by their
 * equality keys, and a row exists for the outer row when one in its group satisfies every
 * comparison (a NULL on either side satisfies none).
 */
function existsWithComparisons(
  expr: Extract<Expr, { k: "exists" }>,
  ops: CompareOp[],
  ctx: EvalContext,
): Compiled {
  const keys = expr.keys.map((k) => compile(k, ctx));
  const equal = keys.length - ops.length;
  const tests = ops.map(comparator);
  let groups: Map<unknown, Row[]> | undefined;
  const groupsOf = (): Map<unknown, Row[]> => {
    if (groups) return groups;
    const result = ctx.subqueries[expr.sub];
    if (!result) throw new Error(`subquery ${expr.sub} was not run`);
    groups = new Map();
    // One comparison: each row (keys, least, greatest) stands for a row with each.
    const rows =
      ops.length === 1
        ? result.rows.flatMap((r) => [r.slice(0, equal + 1), [...r.slice(0, equal), r[equal + 1]]])
        : result.rows;
    for (const r of rows) {
      const key = equal === 0 ? true : compositeKey(r.slice(0, equal));
      if (key === undefined) continue;
      // One comparison needs only what can satisfy it: the extreme value, or for `<>` two
      // distinct values, so an outer row's test costs one or two comparisons, not a scan.
      const value = r[equal];
      if (ops.length === 1 && isNull(value)) continue;
      const group = groups.get(key);
      if (!group) groups.set(key, [r]);
      else if (ops.length === 1) keepDeciding(group, r, equal, ops[0] as CompareOp);
      else group.push(r);
    }
    return groups;
  };
  return (row) => {
    const values = keys.map((k) => k(row));
    const key = equal === 0 ? true : compositeKey(values.slice(0, equal));
    const group = key === undefined ? undefined : groupsOf().get(key);
    const found =
      group?.some((r) =>
        tests.every((test, j) => {
          const a = r[equal + j];
          const b = values[equal + j];
          return !isNull(a) && !isNull(b) && test(compareValues(a, b));
        }),
      ) ?? false;
    return found !== expr.not;
  };
}

/**
 * For a single `inner <op> outer` comparison, the rows of a group that decide it for any outer
 * value: the smallest inner value for `<`/`<=`, the largest for `>`/`>=`, two distinct ones for
 * `<>` (some row differs from any one value then).
 */
function keepDeciding(group: Row[], r: Row, at: number, op: CompareOp): void {
  const c = compareValues(r[at], (group[0] as Row)[at]);
  if (op === "<" || op === "<=") {
    if (c < 0) group[0] = r;
  } else if (op === ">" || op === ">=") {
    if (c > 0) group[0] = r;
  } else if (group.length === 1 && c !== 0) group.push(r);
}

const DUPLICATE = Symbol("more than one row");

/** A decorrelated scalar subquery: the value of the row whose keys are the outer row's. */
function keyedScalar(
  expr: Extract<Expr, { k: "scalarSub" }>,
  keyExprs: Expr[],
  ctx: EvalContext,
): Compiled {
  const keys = keyExprs.map((k) => compile(k, ctx));
  const width = keys.length;
  let values: Map<unknown, Value> | undefined;
  const lookupTable = (): Map<unknown, Value> => {
    if (values) return values;
    const result = ctx.subqueries[expr.sub];
    if (!result) throw new Error(`subquery ${expr.sub} was not run`);
    values = new Map();
    for (const r of result.rows) {
      const key = compositeKey(r.slice(0, width));
      if (key === undefined) continue;
      values.set(key, values.has(key) ? DUPLICATE : r[width]);
    }
    return values;
  };
  const missing = (): Value => {
    if (expr.empty === undefined) return null;
    const result = ctx.subqueries[expr.empty];
    if (!result) throw new Error(`subquery ${expr.empty} was not run`);
    return result.rows[0]?.[0] ?? null;
  };
  return (row) => {
    const key = compositeKey(keys.map((k) => k(row)));
    const v = key === undefined ? undefined : lookupTable().get(key);
    if (v === DUPLICATE)
      throw badRequest("more than one row returned by a subquery used as an expression");
    return v === undefined ? missing() : v;
  };
}

function comparator(op: string): (c: number) => boolean {
  switch (op) {
    case "=":
      return (c) => c === 0;
    case "<>":
      return (c) => c !== 0;
    case "<":
      return (c) => c < 0;
    case "<=":
      return (c) => c <= 0;
    case ">":
      return (c) => c > 0;
    default:
      return (c) => c >= 0;
  }
}

function arithmetic(expr: Extract<Expr, { k: "arith" }>, ctx: EvalContext): Compiled {
  const l = compile(expr.l, ctx);
  const r = compile(expr.r, ctx);
  const integer = isIntegerType(expr.type);
  const big = expr.type === "bigint";
  const decimal = expr.type === "decimal";
  const op = expr.op;
  return (row) => {
    const a = l(row);
    if (isNull(a)) return null;
    const b = r(row);
    if (isNull(b)) return null;
    if (integer) {
      if ((op === "/" || op === "%") && Number(b) === 0) throw badRequest("division by zero");
      if (big || typeof a === "bigint" || typeof b === "bigint") {
        const x = BigInt(a as number | bigint);
        const y = BigInt(b as number | bigint);
        const v =
          op === "+" ? x + y : op === "-" ? x - y : op === "*" ? x * y : op === "/" ? x / y : x % y;
        return big ? v : Number(v);
      }
      const x = a as number;
      const y = b as number;
      const v =
        op === "+"
          ? x + y
          : op === "-"
            ? x - y
            : op === "*"
              ? x * y
              : op === "/"
                ? Math.trunc(x / y)
                : x % y;
      if (v > 2147483647 || v < -2147483648) throw badRequest("integer out of range");
      return v;
    }
    if (decimal) {
      const x = toDecimal(a);
      const y = toDecimal(b);
      // NaN and ±Infinity, which numeric also holds, are doubles: they take the double path.
      if (x && y) return decimalArithmetic(op, x, y);
    }
    const x = Number(a);
    const y = Number(b);
    if ((op === "/" || op === "%") && y === 0) throw badRequest("division by zero");
    return op === "+"
      ? x + y
      : op === "-"
        ? x - y
        : op === "*"
          ? x * y
          : op === "/"
            ? x / y
            : x % y;
  };
}

/**
 * A double-typed expression whose branches may give decimals (`COALESCE(decimal, double)`,
 * CASE, GREATEST) gives them as doubles, as PostgreSQL casts each branch to the result type.
 */
function asDoubles(type: SqlType, f: Compiled): Compiled {
  if (type !== "double") return f;
  return (row) => {
    const v = f(row);
    return v instanceof Decimal ? v.toNumber() : v;
  };
}

/** `x op y` on decimals, at the scale PostgreSQL's numeric gives each operator. */
function decimalArithmetic(op: string, x: Decimal, y: Decimal): Decimal {
  switch (op) {
    case "+":
      return x.add(y);
    case "-":
      return x.subtract(y);
    case "*":
      return x.multiply(y);
    default:
      if (y.sign() === 0) throw badRequest("division by zero");
      return op === "/" ? x.divide(y) : x.modulo(y);
  }
}

/**
 * round(v, places), exact on decimals (half away from zero, as PostgreSQL's numeric round);
 * doubles too are rounded half away from zero, where PostgreSQL's rint rounds half to even.
 */
function roundValue(v: Value, places: number, type: SqlType): Value {
  const d = type === "double" ? undefined : toDecimal(v);
  if (d) return d.round(places);
  const f = 10 ** places;
  const n = Number(v) * f;
  return (Math.sign(n) * Math.round(Math.abs(n))) / f;
}

function fn(name: string, args: Compiled[], type: SqlType): Compiled {
  const [a0, a1, a2] = args;
  const one =
    (f: (v: Value) => Value): Compiled =>
    (row) => {
      const v = (a0 as Compiled)(row);
      return isNull(v) ? null : f(v);
    };
  switch (name) {
    case "lower":
      return one((v) => String(v).toLowerCase());
    case "upper":
      return one((v) => String(v).toUpperCase());
    case "length":
    case "char_length":
      return one((v) => [...String(v)].length);
    case "abs":
      return one((v) =>
        v instanceof Decimal
          ? v.abs()
          : typeof v === "bigint"
            ? v < 0n
              ? -v
              : v
            : Math.abs(v as number),
      );
    case "round":
      return (row) => {
        const v = (a0 as Compiled)(row);
        if (isNull(v)) return null;
        const places = a1 ? a1(row) : 0;
        return isNull(places) ? null : roundValue(v, Number(places), type);
      };
    case "floor":
      return one((v) =>
        v instanceof Decimal ? v.floor() : typeof v === "bigint" ? v : Math.floor(v as number),
      );
    case "ceil":
    case "ceiling":
      return one((v) =>
        v instanceof Decimal ? v.ceil() : typeof v === "bigint" ? v : Math.ceil(v as number),
      );
    case "trim":
      return one((v) => String(v).trim());
    case "substring":
    case "substr":
      return (row) => {
        const v = (a0 as Compiled)(row);
        const from = a1 ? a1(row) : 1;
        const len = a2 ? a2(row) : undefined;
        if (isNull(v) || isNull(from) || (a2 && isNull(len))) return null;
        const chars = [...String(v)];
        const start = Number(from) - 1;
        const end = len === undefined ? chars.length : start + Number(len);
        return chars.slice(Math.max(0, start), Math.max(0, end)).join("");
      };
    case "extract":
      return (row) => {
        const v = (a1 as Compiled)(row);
        return isNull(v) ? null : extractNumeric(dateField(String((a0 as Compiled)(row))), v);
      };
    case "date_part":
      return (row) => {
        const v = (a1 as Compiled)(row);
        return isNull(v) ? null : extractField(dateField(String((a0 as Compiled)(row))), v);
      };
    case "date_trunc":
      return (row) => {
        const v = (a1 as Compiled)(row);
        return isNull(v) ? null : truncate(truncUnit(String((a0 as Compiled)(row))), v);
      };
    case "add_interval":
      return (row) => {
        const v = (a0 as Compiled)(row);
        if (isNull(v)) return null;
        const months = Number((a1 as Compiled)(row));
        const days = Number((a2 as Compiled)(row));
        return addToTimestamp(v, {
          months,
          days,
          ns: BigInt((args[3] as Compiled)(row) as bigint),
        });
      };
    case "add_days":
      return (row) => {
        const v = (a0 as Compiled)(row);
        const n = (a1 as Compiled)(row);
        return isNull(v) || isNull(n) ? null : addToDate(v, { months: 0, days: Number(n), ns: 0n });
      };
    case "days_between":
      return (row) => {
        const v = (a0 as Compiled)(row);
        const w = (a1 as Compiled)(row);
        return isNull(v) || isNull(w) ? null : daysBetween(v, w);
      };
    case "coalesce":
      return (row) => {
        for (const a of args) {
          const v = a(row);
          if (!isNull(v)) return v;
        }
        return null;
      };
    case "nullif":
      return (row) => {
        const v = (a0 as Compiled)(row);
        const w = (a1 as Compiled)(row);
        return !isNull(v) && !isNull(w) && compareValues(v, w) === 0 ? null : v;
      };
    case "greatest":
    case "least": {
      const sign = name === "greatest" ? 1 : -1;
      return (row) => {
        let best: Value = null;
        for (const a of args) {
          const v = a(row);
          if (!isNull(v) && (isNull(best) || sign * compareValues(v, best) > 0)) best = v;
        }
        return best;
      };
    }
    case "concat":
      return (row) =>
        args
          .map((a) => a(row))
          .filter((v) => !isNull(v))
          .map((v) => castValue(v, "text"))
          .join("");
    default:
      throw badRequest(`unknown function ${name}`);
  }
}

/** A predicate closure that is true only when the expression is TRUE (not NULL). */
export function compilePredicate(expr: Expr, ctx: EvalContext): (row: Row) => boolean {
  const f = compile(expr, ctx);
  return (row) => f(row) === true;
}

/**
 * AND (`decisive` false) and OR (`decisive` true) in three-valued logic: the decisive value wins
 * at once; otherwise any NULL makes the answer unknown.
 */
function connective(args: Compiled[], decisive: boolean): Compiled {
  return (row) => {
    let unknown = false;
    for (const a of args) {
      const v = a(row);
      if (v === decisive) return decisive;
      if (isNull(v)) unknown = true;
    }
    return unknown ? null : !decisive;
  };
}
