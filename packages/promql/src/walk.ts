/** Visiting and rewriting a syntax tree's selectors. Pure. */
import type { Expr, VectorSelector } from "./ast.ts";

/** Every vector selector of the tree, those inside range selectors included, in order. */
export function selectorsOf(expr: Expr): VectorSelector[] {
  const found: VectorSelector[] = [];
  mapSelectors(expr, (selector) => {
    found.push(selector);
    return selector;
  });
  return found;
}

/** The tree with each vector selector replaced by what `rewrite` makes of it. */
export function mapSelectors(
  expr: Expr,
  rewrite: (selector: VectorSelector) => VectorSelector,
): Expr {
  const map = (e: Expr): Expr => mapSelectors(e, rewrite);
  switch (expr.type) {
    case "vectorSelector":
      return rewrite(expr);
    case "matrixSelector":
      return { ...expr, selector: rewrite(expr.selector) };
    case "subquery":
    case "paren":
    case "unary":
      return { ...expr, expr: map(expr.expr) };
    case "call":
      return { ...expr, args: expr.args.map(map) };
    case "aggregate":
      return {
        ...expr,
        expr: map(expr.expr),
        ...(expr.param === undefined ? {} : { param: map(expr.param) }),
      };
    case "binary":
      return { ...expr, lhs: map(expr.lhs), rhs: map(expr.rhs) };
    case "number":
    case "string":
    case "external":
      return expr;
  }
}
