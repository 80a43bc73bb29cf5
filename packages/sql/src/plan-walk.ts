/** Walking a plan's tree: each node's inputs, mapped or visited. */
import type { Expr, PlanNode } from "./plan.ts";

/** The node with each input replaced by `f(input)`; a leaf as it is. */
export function mapInputs(node: PlanNode, f: (n: PlanNode) => PlanNode): PlanNode {
  switch (node.kind) {
    case "scan":
    case "remote":
    case "values":
      return node;
    case "join":
      return { ...node, left: f(node.left), right: f(node.right) };
    case "union":
      return { ...node, inputs: node.inputs.map(f) };
    case "setop":
      return { ...node, inputs: [f(node.inputs[0]), f(node.inputs[1])] };
    default:
      return { ...node, input: f(node.input) } as PlanNode;
  }
}

/** Calls `f` on every node of the tree, inputs first. */
export function forEachNode(node: PlanNode, f: (node: PlanNode) => void): void {
  switch (node.kind) {
    case "scan":
    case "remote":
    case "values":
      break;
    case "join":
      forEachNode(node.left, f);
      forEachNode(node.right, f);
      break;
    case "union":
    case "setop":
      for (const input of node.inputs) forEachNode(input, f);
      break;
    default:
      forEachNode(node.input, f);
  }
  f(node);
}

/** An expression's operands (a subquery's correlated keys, not its statement). */
export function exprChildren(e: Expr): Expr[] {
  switch (e.k) {
    case "cmp":
    case "arith":
    case "concat":
      return [e.l, e.r];
    case "and":
    case "or":
      return e.args;
    case "not":
    case "neg":
    case "isnull":
    case "cast":
      return [e.e];
    case "in":
      return [e.e, ...e.list];
    case "between":
      return [e.e, e.lo, e.hi];
    case "like":
      return [e.e, e.pattern];
    case "case":
      return [...(e.operand ? [e.operand] : []), ...e.whens.flat(), ...(e.else ? [e.else] : [])];
    case "fn":
      return e.args;
    case "inSub":
    case "exists":
      return e.keys;
    case "scalarSub":
      return e.keys ?? [];
    case "agg":
      return e.arg ? [e.arg] : [];
    case "grouping":
      return e.args;
    default:
      return [];
  }
}
