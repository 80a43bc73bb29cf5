/**
 * The labels absent() and absent_over_time() give their single output: the equality matchers
 * of a selector argument (Prometheus' `createLabelsForAbsentFunction`).
 */
import type { Expr, LabelMatcher } from "./ast.ts";
import type { Labels } from "./values.ts";

function selectorMatchers(expr: Expr | undefined): LabelMatcher[] {
  if (expr?.type === "vectorSelector") return expr.matchers;
  if (expr?.type === "matrixSelector") return expr.selector.matchers;
  // A selector pushed down to instances keeps its labels in the node it stands for.
  if (expr?.type === "external") return selectorMatchers(expr.original);
  if (expr?.type === "paren") return selectorMatchers(expr.expr);
  return [];
}

/**
 * A label whose value the matchers do not pin down to one string (a second matcher on the
 * same name, or any other operator) is left out.
 */
export function absentLabels(expr: Expr | undefined): Labels {
  const labels: Record<string, string> = {};
  const ambiguous: string[] = [];
  for (const matcher of selectorMatchers(expr)) {
    if (matcher.name === "__name__") continue;
    if (matcher.op === "=" && !(matcher.name in labels)) {
      labels[matcher.name] = matcher.value;
    } else {
      ambiguous.push(matcher.name);
    }
  }
  for (const name of ambiguous) delete labels[name];
  // An empty value is a missing label (though it still made a second matcher ambiguous).
  for (const [name, value] of Object.entries(labels)) if (value === "") delete labels[name];
  return labels;
}
