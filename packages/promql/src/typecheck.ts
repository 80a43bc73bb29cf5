/** The static type of any expression, as Prometheus' `Expr.Type()`. */
import type { Expr, ValueType } from "./ast.ts";
import { FUNCTIONS } from "./signatures.ts";

/** Types by node: trees are not changed once built, and checks ask about every node. */
const typed = new WeakMap<Expr, ValueType>();

export function typeOf(expr: Expr): ValueType {
  let type = typed.get(expr);
  if (type === undefined) {
    type = computeType(expr);
    typed.set(expr, type);
  }
  return type;
}

function computeType(expr: Expr): ValueType {
  switch (expr.type) {
    case "number":
      return "scalar";
    case "string":
      return "string";
    case "vectorSelector":
    case "aggregate":
      return "vector";
    case "matrixSelector":
    case "subquery":
      return "matrix";
    case "call":
      return FUNCTIONS[expr.name]?.returns ?? "vector";
    case "binary":
      return typeOf(expr.lhs) === "scalar" && typeOf(expr.rhs) === "scalar" ? "scalar" : "vector";
    case "unary":
    case "paren":
      return typeOf(expr.expr);
    case "external":
      return expr.resultType;
  }
}

/** The type's name in Prometheus' messages: "instant vector", "range vector", … */
export function documentedType(type: ValueType): string {
  switch (type) {
    case "vector":
      return "instant vector";
    case "matrix":
      return "range vector";
    default:
      return type;
  }
}
