/** Arithmetic and comparison on two sample values, as Prometheus' `vectorElemBinop`. */
import type { ArithmeticOp, BinaryOp, ComparisonOp } from "./ast.ts";
import { goAtan2, goPow } from "./binary-go-math.ts";

const ARITHMETIC_OPS: ReadonlySet<string> = new Set(["+", "-", "*", "/", "%", "^", "atan2"]);
const COMPARISON_OPS: ReadonlySet<string> = new Set(["==", "!=", ">", "<", ">=", "<="]);

export function isArithmeticOp(op: BinaryOp): op is ArithmeticOp {
  return ARITHMETIC_OPS.has(op);
}

/**
 * Whether the result drops the metric name. Prometheus 2 drops it for arithmetic but not for
 * `atan2`, which was added later and left out of that list.
 */
export function dropsMetricName(op: BinaryOp): boolean {
  return op !== "atan2" && isArithmeticOp(op);
}

export function isComparisonOp(op: BinaryOp): op is ComparisonOp {
  return COMPARISON_OPS.has(op);
}

export function arithmetic(op: ArithmeticOp, lhs: number, rhs: number): number {
  switch (op) {
    case "+":
      return lhs + rhs;
    case "-":
      return lhs - rhs;
    case "*":
      return lhs * rhs;
    case "/":
      return lhs / rhs;
    // JavaScript's `%` is an exact fmod with the dividend's sign, as Go's math.Mod.
    case "%":
      return lhs % rhs;
    case "^":
      return goPow(lhs, rhs);
    case "atan2":
      return goAtan2(lhs, rhs);
  }
}

/** Whether the comparison holds; any comparison with NaN is false except `!=`. */
export function compare(op: ComparisonOp, lhs: number, rhs: number): boolean {
  switch (op) {
    case "==":
      return lhs === rhs;
    case "!=":
      return lhs !== rhs;
    case ">":
      return lhs > rhs;
    case "<":
      return lhs < rhs;
    case ">=":
      return lhs >= rhs;
    case "<=":
      return lhs <= rhs;
  }
}

/**
 * The value an arithmetic or comparison operator yields for two samples and whether the result
 * is kept: a comparison keeps the left value when it holds and drops the sample otherwise.
 */
export function elementBinop(
  op: ArithmeticOp | ComparisonOp,
  lhs: number,
  rhs: number,
): { value: number; keep: boolean } {
  if (isArithmeticOp(op)) return { value: arithmetic(op, lhs, rhs), keep: true };
  return { value: lhs, keep: compare(op, lhs, rhs) };
}

/** Scalar–scalar operators (comparisons there always carry `bool`): 1 or 0 for comparisons. */
export function scalarBinop(op: ArithmeticOp | ComparisonOp, lhs: number, rhs: number): number {
  if (isArithmeticOp(op)) return arithmetic(op, lhs, rhs);
  return compare(op, lhs, rhs) ? 1 : 0;
}
