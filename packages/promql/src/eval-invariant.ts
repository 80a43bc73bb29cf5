/**
 * Subexpressions whose value does not depend on the step because an `@` pins them, found with
 * Prometheus 2.42's rules (`PreprocessExpr`): they are evaluated once, at the first step, and
 * repeated, which is both faster and what Prometheus answers.
 */
import type { Expr } from "./ast.ts";

/** Functions whose result changes with the evaluation time even over pinned arguments. */
const TIME_DEPENDENT_FUNCTIONS: ReadonlySet<string> = new Set([
  "days_in_month",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "hour",
  "minute",
  "month",
  "year",
  "predict_linear",
  "time",
  "timestamp",
]);

/** The outermost step-invariant subexpressions (the whole expression when it is one). */
export function stepInvariantRoots(expr: Expr): Set<Expr> {
  const roots = new Set<Expr>();
  if (isInvariant(expr, roots)) roots.add(expr);
  return roots;
}

function isInvariant(node: Expr, roots: Set<Expr>): boolean {
  switch (node.type) {
    case "vectorSelector":
      return node.at !== undefined;
    case "matrixSelector":
      return node.selector.at !== undefined;
    case "subquery": {
      // The inside of a subquery is evaluated once even when the subquery itself is not pinned.
      if (isInvariant(node.expr, roots)) roots.add(node.expr);
      return node.at !== undefined;
    }
    case "aggregate":
      // As Prometheus, only the aggregated expression counts, not the parameter.
      return isInvariant(node.expr, roots);
    case "binary": {
      const lhs = isInvariant(node.lhs, roots);
      const rhs = isInvariant(node.rhs, roots);
      if (lhs && rhs) return true;
      if (lhs) roots.add(node.lhs);
      if (rhs) roots.add(node.rhs);
      return false;
    }
    case "call": {
      const args = node.args.map((arg) => isInvariant(arg, roots));
      if (!TIME_DEPENDENT_FUNCTIONS.has(node.name) && args.every(Boolean)) return true;
      node.args.forEach((arg, i) => {
        if (args[i]) roots.add(arg);
      });
      return false;
    }
    case "paren":
    case "unary":
      return isInvariant(node.expr, roots);
    case "number":
    case "string":
      return true;
    case "external":
      return false;
  }
}
